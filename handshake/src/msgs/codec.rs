//! The wire codec: a [`Reader`] cursor over received bytes and the [`Codec`]
//! trait every RFC 5246 structure implements.
//!
//! Decoding is strict: a structure must consume exactly the bytes its length
//! prefix gives it, so that `decode(bytes)` followed by `encode` gives back
//! `bytes` unchanged. The transcript hash depends on that: the engine hashes
//! the encoding of the message it parsed, and it must be the encoding the
//! peer sent.

use crate::error::Error;

/// A cursor over a byte slice being decoded.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    offs: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, offs: 0 }
    }

    /// Takes the next `len` bytes, or fails with decode_error naming `what`.
    pub fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], Error> {
        if self.left() < len {
            return Err(Error::decode(format!(
                "{what}: needs {len} bytes, only {} left",
                self.left()
            )));
        }
        let out = &self.buf[self.offs..self.offs + len];
        self.offs += len;
        Ok(out)
    }

    /// The bytes not yet consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.offs..];
        self.offs = self.buf.len();
        out
    }

    pub fn left(&self) -> usize {
        self.buf.len() - self.offs
    }

    pub fn any_left(&self) -> bool {
        self.left() > 0
    }

    /// Fails with decode_error if anything is left: RFC 5246 structures are
    /// exactly as long as their length prefixes say.
    pub fn expect_empty(&self, what: &str) -> Result<(), Error> {
        match self.left() {
            0 => Ok(()),
            n => Err(Error::decode(format!("{what}: {n} trailing bytes"))),
        }
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u24(&mut self, what: &str) -> Result<u32, Error> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// A sub-reader over a vector with a length prefix of `prefix` bytes
    /// (1, 2 or 3), checked against the RFC's `<min..max>` bounds.
    pub fn sub(
        &mut self,
        prefix: LengthPrefix,
        min: usize,
        max: usize,
        what: &str,
    ) -> Result<Reader<'a>, Error> {
        let len = match prefix {
            LengthPrefix::U8 => usize::from(self.u8(what)?),
            LengthPrefix::U16 => usize::from(self.u16(what)?),
            LengthPrefix::U24 => self.u24(what)? as usize,
        };
        if len < min || len > max {
            return Err(Error::decode(format!(
                "{what}: length {len} outside {min}..={max}"
            )));
        }
        Ok(Reader::new(self.take(len, what)?))
    }

    /// An opaque vector `opaque x<min..max>`.
    pub fn opaque(
        &mut self,
        prefix: LengthPrefix,
        min: usize,
        max: usize,
        what: &str,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.sub(prefix, min, max, what)?.rest().to_vec())
    }
}

/// The size of a vector's length prefix on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthPrefix {
    U8,
    U16,
    U24,
}

impl LengthPrefix {
    fn max(self) -> usize {
        match self {
            Self::U8 => 0xff,
            Self::U16 => 0xffff,
            Self::U24 => 0xff_ffff,
        }
    }
}

/// An RFC 5246 wire structure: encodes itself and reads itself back.
pub trait Codec: Sized {
    /// Appends the wire encoding to `out`. Fails (internal_error) if a
    /// vector is too long for its length prefix: values decoded from the
    /// wire always fit, but values built locally (from a configuration, a
    /// certificate file) may not, and a wrong prefix must never be written.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), Error>;

    /// Reads one value from `r`, leaving the rest.
    fn read(r: &mut Reader<'_>) -> Result<Self, Error>;

    /// The wire encoding as a new vector.
    fn get_encoding(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Reads a value that must span all of `bytes`.
    fn read_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let value = Self::read(&mut r)?;
        r.expect_empty(
            std::any::type_name::<Self>()
                .rsplit("::")
                .next()
                .unwrap_or("message"),
        )?;
        Ok(value)
    }
}

pub fn put_u16(v: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub fn put_u24(v: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// Writes a vector with a length prefix: `body` appends the contents and the
/// prefix is patched in afterwards, so callers never compute lengths by hand.
///
/// A body longer than the prefix can state (2^8-1, 2^16-1 or 2^24-1 bytes)
/// is an error in every build, and `out` is left as it was: the value was
/// built locally (decoded ones always fit) and cannot go on the wire.
pub fn put_vec(
    prefix: LengthPrefix,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    let width = match prefix {
        LengthPrefix::U8 => 1,
        LengthPrefix::U16 => 2,
        LengthPrefix::U24 => 3,
    };
    let at = out.len();
    out.extend_from_slice(&[0u8; 3][..width]);
    let written = body(out);
    let len = out.len() - at - width;
    if let Err(e) = written {
        out.truncate(at);
        return Err(e);
    }
    if len > prefix.max() {
        out.truncate(at);
        return Err(Error::internal(format!(
            "a vector of {len} bytes does not fit its {width}-byte length prefix (at most {})",
            prefix.max()
        )));
    }
    let bytes = (len as u32).to_be_bytes();
    out[at..at + width].copy_from_slice(&bytes[4 - width..]);
    Ok(())
}

/// Writes `opaque x<..>` with the given prefix (an error if `bytes` is too
/// long for it, as [`put_vec`]).
pub fn put_opaque(prefix: LengthPrefix, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    put_vec(prefix, out, |o| {
        o.extend_from_slice(bytes);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_short_input_with_decode_error() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u16("x").unwrap(), 0x0102);
        let err = r.u8("y").unwrap_err();
        assert_eq!(err.alert(), crate::AlertDescription::DECODE_ERROR);
    }

    #[test]
    fn sub_enforces_bounds_and_prefix_patches_length() {
        let mut out = Vec::new();
        put_opaque(LengthPrefix::U24, &[9; 300], &mut out).unwrap();
        assert_eq!(&out[..3], &[0, 1, 44]);
        let mut r = Reader::new(&out);
        assert_eq!(r.opaque(LengthPrefix::U24, 0, 300, "v").unwrap().len(), 300);
        let mut r = Reader::new(&out);
        assert!(r.opaque(LengthPrefix::U24, 0, 299, "v").is_err());
        // A length prefix that claims more than is there.
        let mut r = Reader::new(&[0, 5, 1, 2]);
        assert!(r.opaque(LengthPrefix::U16, 0, 100, "v").is_err());
    }

    #[test]
    fn a_vector_too_long_for_its_prefix_is_an_error_not_a_wrong_prefix() {
        for (prefix, max) in [
            (LengthPrefix::U8, 0xff),
            (LengthPrefix::U16, 0xffff),
            (LengthPrefix::U24, 0xff_ffff),
        ] {
            // At the limit: written, and it reads back.
            let mut out = vec![0xaa];
            put_opaque(prefix, &vec![7; max], &mut out).unwrap();
            let mut r = Reader::new(&out[1..]);
            assert_eq!(r.opaque(prefix, 0, max, "v").unwrap().len(), max);
            assert!(!r.any_left());
            // One byte over: an error, and nothing written.
            let mut out = vec![0xaa];
            let err = put_opaque(prefix, &vec![7; max + 1], &mut out).unwrap_err();
            assert_eq!(err.alert(), crate::AlertDescription::INTERNAL_ERROR);
            assert!(err.reason().contains("length prefix"), "{}", err.reason());
            assert_eq!(out, [0xaa]);
        }
        // An error inside a nested vector comes out of the outer one.
        let mut out = Vec::new();
        let err = put_vec(LengthPrefix::U16, &mut out, |o| {
            put_opaque(LengthPrefix::U8, &[1; 256], o)
        })
        .unwrap_err();
        assert_eq!(err.alert(), crate::AlertDescription::INTERNAL_ERROR);
        assert!(out.is_empty());
    }
}
