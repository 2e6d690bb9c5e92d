//! `proto::convert::from_request` / `from_response` (server-svc's and
//! client-svc's input path over gRPC) on arbitrary protobuf.
//!
//! Input: one byte, then protobuf. Bit 0 of the byte: a `ConnectResponse`
//! (else a `ConnectRequest`); bits 1-4: `exp`, by which the repeated
//! fields (cipher suites, extensions, certificates) are cycled to `len <<
//! exp` entries (at most 2^17), so that a short input can reach the
//! length limits (see `handshake_fuzz::input::amplify`).
//!
//! Checks: no panic; a failure is a local error; a message that converts
//! reads back as itself with the engine's decoder (`Message::read` of its
//! fragment: the bytes hashed into the transcript are the ones the .proto
//! promises) and survives the way back (`to_request` / `to_response`, then
//! `from_*` again) where that way exists.
#![no_main]

use handshake::Message;
use handshake_fuzz::codec::{check_error, check_sendable};
use handshake_fuzz::input::{Input, amplify};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use proto::convert::{from_request, from_response, to_request, to_response};
use proto::pb;
use proto::pb::connect_request::Message as Req;
use proto::pb::connect_response::Message as Resp;

/// Entries a repeated field is amplified to at most.
const MAX_ENTRIES: usize = 1 << 17;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let selector = input.u8();
    let exp = (selector >> 1) & 15;
    let bytes = input.rest();
    if selector & 1 == 0 {
        let Ok(mut req) = pb::ConnectRequest::decode(bytes) else {
            return;
        };
        if let Some(Req::ClientHello(h)) = &mut req.message {
            amplify(&mut h.cipher_suites, exp, MAX_ENTRIES);
            amplify_extensions(&mut h.extensions, exp);
        }
        check(from_request(req), |m| to_request(m).map(from_request));
    } else {
        let Ok(mut resp) = pb::ConnectResponse::decode(bytes) else {
            return;
        };
        match &mut resp.message {
            Some(Resp::ServerHello(h)) => amplify_extensions(&mut h.extensions, exp),
            Some(Resp::Certificate(c)) => amplify(&mut c.certificate_list, exp, MAX_ENTRIES),
            _ => {}
        }
        check(from_response(resp), |m| to_response(m).map(from_response));
    }
});

fn amplify_extensions(e: &mut Option<pb::Extensions>, exp: u8) {
    if let Some(e) = e {
        amplify(&mut e.items, exp, MAX_ENTRIES);
    }
}

/// `converted` is sendable as it is, and `back(m)` gives `m` again when the
/// conversion back to protobuf succeeds. (It need not: `from_*` may accept
/// what the engine then refuses, such as an empty ECDH public key, which
/// `to_*` cannot express.)
fn check(
    converted: Result<Message, handshake::Error>,
    back: impl FnOnce(Message) -> Result<Result<Message, handshake::Error>, handshake::Error>,
) {
    match converted {
        Ok(m) => {
            check_sendable(&m);
            if let Ok(again) = back(m.clone()) {
                assert_eq!(
                    again.as_ref(),
                    Ok(&m),
                    "protobuf -> engine -> protobuf -> engine"
                );
            }
        }
        Err(e) => check_error(&e, "proto::convert"),
    }
}
