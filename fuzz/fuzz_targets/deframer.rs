//! `handshake::Deframer` (the TLS front's and `tls://` targets'
//! input path) on an arbitrary byte stream in arbitrary chunks.
//!
//! Input: `k` (a byte; `k % 16` chunk sizes follow, each 1 to 256 bytes,
//! used in turn; none means one push), the chunk sizes, then the stream.
//!
//! Checks: no panic; the messages and the final error do not depend on the
//! chunking (the whole stream pushed at once gives the same); an error is
//! final; a handshake message (left undecoded, `Message::RawHandshake`) is
//! within its type's maximum and, if its body decodes, re-encodes to its
//! bytes; and the messages, written back with `encode_records`, deframe to
//! themselves.
#![no_main]

use handshake::{Deframer, encode_records};
use handshake::{Error, Message};
use handshake_fuzz::codec::{check_error, check_raw, check_sendable};
use handshake_fuzz::input::Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let k = usize::from(input.u8() % 16);
    let sizes: Vec<usize> = input.bytes(k).iter().map(|&b| usize::from(b) + 1).collect();
    let stream = input.rest();

    let whole = deframe(stream, &[stream.len().max(1)]);
    let chunked = deframe(stream, &sizes);
    assert_eq!(chunked, whole, "the chunking changed the outcome");

    let (messages, end) = whole;
    if let Some(e) = &end {
        check_error(e, "Deframer");
    }
    let mut bytes = Vec::new();
    for m in &messages {
        match m {
            Message::RawHandshake(raw) => check_raw(raw),
            m => check_sendable(m),
        }
        encode_records(m, &mut bytes).expect("a deframed message fits records");
    }
    let again = deframe(&bytes, &[bytes.len().max(1)]);
    assert_eq!(
        again,
        (messages, None),
        "deframed messages do not survive re-framing"
    );
});

/// Pushes `stream` in chunks of `sizes` (cycled; empty: one push), popping
/// after each; returns the messages and the error that ended them, if any.
fn deframe(stream: &[u8], sizes: &[usize]) -> (Vec<Message>, Option<Error>) {
    let mut d = Deframer::new();
    let mut out = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().cycle();
    loop {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        d.push(chunk);
        loop {
            match d.pop() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(d.pop(), Err(e.clone()), "an error is not final");
                    return (out, Some(e));
                }
            }
        }
        if rest.is_empty() {
            return (out, None);
        }
    }
}
