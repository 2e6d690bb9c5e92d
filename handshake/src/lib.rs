//! placeholder
pub mod error;
pub mod msgs;
pub mod suites;

pub use error::{Error, Origin};
pub use msgs::enums::AlertDescription;
