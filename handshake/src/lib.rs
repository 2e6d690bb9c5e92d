//! placeholder
pub mod error;
pub mod msgs;
pub mod rand;
pub mod suites;

pub use error::{Error, Origin};
pub use msgs::enums::AlertDescription;

/// Which end of the connection an engine plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}
