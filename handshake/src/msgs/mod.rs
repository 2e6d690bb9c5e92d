//! Wire messages of TLS 1.2: the codec, the code points, and one type per
//! RFC 5246 structure.

pub mod codec;
pub mod enums;
pub mod extensions;
pub mod handshake;
pub mod message;
