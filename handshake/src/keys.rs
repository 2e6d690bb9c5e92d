//! The TLS 1.2 key schedule: PRF (RFC 5246 5), master secret (RFC 5246 8.1,
//! or the extended master secret of RFC 7627 4), key block and its partition
//! into write keys and IVs (RFC 5246 6.3), Finished verify_data (RFC 5246
//! 7.4.9), and the NSS key log line.
//!
//! The PRF is aws-lc-rs' `tls_prf`; nothing here computes HMAC by hand. Every
//! secret lives in `Zeroizing` buffers, is wiped on drop, and is reachable
//! only through an explicitly named accessor; `Debug` never shows one.

use std::fmt;

use aws_lc_rs::{constant_time, tls_prf};
use zeroize::Zeroizing;

use crate::Role;
use crate::error::Error;
use crate::record::{RecordDecrypter, RecordEncrypter};
use crate::suites::{HashAlgorithm, SuiteParams};

/// Length of the master secret (RFC 5246 8.1).
const MASTER_SECRET_LEN: usize = 48;
/// Length of Finished.verify_data for every TLS 1.2 suite here (RFC 5246 7.4.9).
pub(crate) const VERIFY_DATA_LEN: usize = 12;

/// `PRF(secret, label, seed)` truncated to `out_len` bytes: P_SHA256 or
/// P_SHA384 according to `hash` (RFC 5246 5; the suite's PRF hash per RFC
/// 5288 3). Fails with internal_error on an empty secret or `out_len == 0`,
/// which aws-lc refuses.
pub fn prf(
    hash: HashAlgorithm,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out_len: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let refused = |_| {
        Error::internal(format!(
            "TLS PRF ({}) refused: secret of {} bytes, {out_len} bytes asked",
            hash.name(),
            secret.len()
        ))
    };
    // `tls_prf::Secret` wipes its own copy of the secret and of the output
    // when dropped; the output is copied into a buffer that does the same.
    let output = tls_prf::Secret::new(hash.prf(), secret)
        .map_err(refused)?
        .derive(label, seed, out_len)
        .map_err(refused)?;
    Ok(Zeroizing::new(output.as_ref().to_vec()))
}

/// Every secret of one session, from pre-master to the write keys.
pub struct SessionSecrets {
    suite: &'static SuiteParams,
    client_random: [u8; 32],
    server_random: [u8; 32],
    pre_master: Zeroizing<Vec<u8>>,
    master_secret: Zeroizing<Vec<u8>>,
    extended_master_secret: bool,
    key_block: Zeroizing<Vec<u8>>,
}

impl SessionSecrets {
    /// Derives the master secret and key block.
    ///
    /// Without `ems_session_hash` (RFC 5246 8.1):
    /// `master_secret = PRF(pre_master, "master secret", client_random + server_random)[0..48]`.
    /// With `Some(session_hash)`, the hash of the handshake through
    /// ClientKeyExchange (RFC 7627 4):
    /// `master_secret = PRF(pre_master, "extended master secret", session_hash)[0..48]`.
    ///
    /// Then (RFC 5246 6.3) `key_block = PRF(master_secret, "key expansion",
    /// server_random + client_random)`, note the randoms' order reversed,
    /// `suite.key_block_len()` bytes long.
    pub fn new(
        suite: &'static SuiteParams,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        pre_master: Zeroizing<Vec<u8>>,
        ems_session_hash: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let randoms = concat_randoms(client_random, server_random);
        let (label, seed): (&[u8], &[u8]) = match ems_session_hash {
            Some(session_hash) => (b"extended master secret", session_hash),
            None => (b"master secret", &randoms),
        };
        let master_secret = prf(suite.hash, &pre_master, label, seed, MASTER_SECRET_LEN)?;
        let key_block = prf(
            suite.hash,
            &master_secret,
            b"key expansion",
            &concat_randoms(server_random, client_random),
            suite.key_block_len(),
        )?;
        Ok(Self {
            suite,
            client_random: *client_random,
            server_random: *server_random,
            pre_master,
            master_secret,
            extended_master_secret: ems_session_hash.is_some(),
            key_block,
        })
    }

    pub fn suite(&self) -> &'static SuiteParams {
        self.suite
    }

    /// Whether the master secret was derived per RFC 7627.
    pub fn extended_master_secret(&self) -> bool {
        self.extended_master_secret
    }

    pub fn client_random(&self) -> &[u8; 32] {
        &self.client_random
    }

    pub fn server_random(&self) -> &[u8; 32] {
        &self.server_random
    }

    /// The pre-master secret (secret).
    pub fn pre_master_secret(&self) -> &[u8] {
        &self.pre_master
    }

    /// The 48-byte master secret (secret).
    pub fn master_secret(&self) -> &[u8] {
        &self.master_secret
    }

    /// The whole key block (secret).
    pub fn key_block(&self) -> &[u8] {
        &self.key_block
    }

    // RFC 5246 6.3 partitions the key block as client_write_MAC_key,
    // server_write_MAC_key, client_write_key, server_write_key,
    // client_write_IV, server_write_IV. AEAD suites have no MAC keys
    // (mac_key_length = 0, RFC 5246 6.2.3.3), so the keys come first. The key
    // block is exactly `suite.key_block_len()` bytes by construction, so the
    // ranges below always lie inside it.

    /// The client's write key (secret).
    pub fn client_write_key(&self) -> &[u8] {
        let k = self.suite.bulk.key_len();
        &self.key_block[..k]
    }

    /// The server's write key (secret).
    pub fn server_write_key(&self) -> &[u8] {
        let k = self.suite.bulk.key_len();
        &self.key_block[k..2 * k]
    }

    /// The client's fixed IV: GCM salt (RFC 5288 3) or ChaCha IV (RFC 7905 2).
    pub fn client_write_iv(&self) -> &[u8] {
        let (k, iv) = (self.suite.bulk.key_len(), self.suite.bulk.fixed_iv_len());
        &self.key_block[2 * k..2 * k + iv]
    }

    /// The server's fixed IV.
    pub fn server_write_iv(&self) -> &[u8] {
        let (k, iv) = (self.suite.bulk.key_len(), self.suite.bulk.fixed_iv_len());
        &self.key_block[2 * k + iv..2 * k + 2 * iv]
    }

    /// `Finished.verify_data = PRF(master_secret, finished_label,
    /// Hash(handshake_messages))[0..12]` (RFC 5246 7.4.9), where the label is
    /// "client finished" or "server finished" according to `sender`, the side
    /// that sends this Finished.
    pub fn verify_data(&self, sender: Role, handshake_hash: &[u8]) -> Result<[u8; 12], Error> {
        let label: &[u8] = match sender {
            Role::Client => b"client finished",
            Role::Server => b"server finished",
        };
        let out = prf(
            self.suite.hash,
            &self.master_secret,
            label,
            handshake_hash,
            VERIFY_DATA_LEN,
        )?;
        let mut verify_data = [0u8; VERIFY_DATA_LEN];
        verify_data.copy_from_slice(&out);
        Ok(verify_data)
    }

    /// The NSS key log line for this session, as `SSLKEYLOGFILE` readers
    /// (Wireshark) expect it: `CLIENT_RANDOM <client random> <master secret>`,
    /// lowercase hex, no newline. It reveals the master secret: write it only
    /// when a lab option asks for it.
    pub fn key_log_line(&self) -> String {
        format!(
            "CLIENT_RANDOM {} {}",
            hex(&self.client_random),
            hex(&self.master_secret)
        )
    }

    /// The record protection of one side, `role` being the local role: the
    /// encrypter seals with that role's write key and IV, the decrypter opens
    /// with the peer's (RFC 5246 6.3: each side writes with its own keys).
    pub fn record_layer(&self, role: Role) -> Result<(RecordEncrypter, RecordDecrypter), Error> {
        let bulk = self.suite.bulk;
        let (client, server) = (
            (self.client_write_key(), self.client_write_iv()),
            (self.server_write_key(), self.server_write_iv()),
        );
        let ((write_key, write_iv), (read_key, read_iv)) = match role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        };
        Ok((
            RecordEncrypter::new(bulk, write_key, write_iv)?,
            RecordDecrypter::new(bulk, read_key, read_iv)?,
        ))
    }
}

impl fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSecrets")
            .field("suite", &self.suite.suite)
            .field("extended_master_secret", &self.extended_master_secret)
            .finish_non_exhaustive()
    }
}

fn concat_randoms(first: &[u8; 32], second: &[u8; 32]) -> [u8; 64] {
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(first);
    seed[32..].copy_from_slice(second);
    seed
}

/// Compares two MACs (e.g. verify_data) in constant time with respect to
/// their contents; different lengths compare unequal.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Lowercase hex, for key logs and event data.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::enums::CipherSuite;
    use crate::suites::{BulkCipher, lookup};
    use aws_lc_rs::hmac;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// P_hash of RFC 5246 5, written out from HMAC for the test only:
    /// A(0) = seed, A(i) = HMAC(secret, A(i-1)),
    /// P_hash = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...
    /// and PRF(secret, label, seed) = P_hash(secret, label + seed).
    fn reference_prf(
        alg: hmac::Algorithm,
        secret: &[u8],
        label: &[u8],
        seed: &[u8],
        len: usize,
    ) -> Vec<u8> {
        let key = hmac::Key::new(alg, secret);
        let full_seed = [label, seed].concat();
        let mut a = full_seed.clone();
        let mut out = Vec::new();
        while out.len() < len {
            a = hmac::sign(&key, &a).as_ref().to_vec();
            let mut ctx = hmac::Context::with_key(&key);
            ctx.update(&a);
            ctx.update(&full_seed);
            out.extend_from_slice(ctx.sign().as_ref());
        }
        out.truncate(len);
        out
    }

    const CR: [u8; 32] = [0xc1; 32];
    const SR: [u8; 32] = [0x5e; 32];

    fn suite(cs: CipherSuite) -> &'static SuiteParams {
        lookup(cs).unwrap()
    }

    fn pre_master() -> Zeroizing<Vec<u8>> {
        Zeroizing::new((0u8..48).collect())
    }

    fn secrets(cs: CipherSuite, ems: Option<&[u8]>) -> SessionSecrets {
        SessionSecrets::new(suite(cs), &CR, &SR, pre_master(), ems).unwrap()
    }

    #[test]
    fn prf_p_sha256_known_answer() {
        // /work/shared/test-vectors/tls12-prf.md
        let out = prf(
            HashAlgorithm::Sha256,
            &unhex("9bbe436ba940f017b17652849a71db35"),
            b"test label",
            &unhex("a0ba9f936cda311827a6f796ffd5198c"),
            100,
        )
        .unwrap();
        let want = unhex(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a
             6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab
             4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701
             87347b66",
        );
        assert_eq!(want.len(), 100);
        assert_eq!(hex(&out), hex(&want));
    }

    #[test]
    fn prf_matches_p_hash_built_from_hmac() {
        let secret = unhex("b80b733d6ceefcdc71566ea48e5567df");
        let seed = unhex("cd665cf6a8447dd6ff8b27555edb7465");
        for (hash, alg) in [
            (HashAlgorithm::Sha256, hmac::HMAC_SHA256),
            (HashAlgorithm::Sha384, hmac::HMAC_SHA384),
        ] {
            for len in [1, 12, 32, 48, 100, 148, 150] {
                let got = prf(hash, &secret, b"test label", &seed, len).unwrap();
                let want = reference_prf(alg, &secret, b"test label", &seed, len);
                assert_eq!(hex(&got), hex(&want), "{hash:?} {len}");
            }
        }
        // The two hashes really give different streams.
        let a = prf(HashAlgorithm::Sha256, &secret, b"x", &seed, 48).unwrap();
        let b = prf(HashAlgorithm::Sha384, &secret, b"x", &seed, 48).unwrap();
        assert_ne!(*a, *b);
    }

    #[test]
    fn prf_refusals_are_internal_errors() {
        use crate::AlertDescription;
        let e = prf(HashAlgorithm::Sha256, &[], b"l", b"s", 12).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        let e = prf(HashAlgorithm::Sha256, &[1], b"l", b"s", 0).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        let e = SessionSecrets::new(
            suite(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256),
            &CR,
            &SR,
            Zeroizing::new(Vec::new()),
            None,
        )
        .unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
    }

    #[test]
    fn master_secret_normal_and_extended() {
        let session_hash = [0xabu8; 48];
        for cs in [
            CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_RSA_WITH_AES_256_GCM_SHA384,
        ] {
            let hash = suite(cs).hash;
            let normal = secrets(cs, None);
            let ems = secrets(cs, Some(&session_hash));
            assert!(!normal.extended_master_secret());
            assert!(ems.extended_master_secret());
            assert_eq!(normal.master_secret().len(), 48);
            assert_eq!(ems.master_secret().len(), 48);
            assert_ne!(normal.master_secret(), ems.master_secret());
            assert_ne!(normal.key_block(), ems.key_block());
            assert_eq!(normal.pre_master_secret(), &pre_master()[..]);
            assert_eq!(normal.client_random(), &CR);
            assert_eq!(normal.server_random(), &SR);

            let crsr = [&CR[..], &SR[..]].concat();
            let want = prf(hash, &pre_master(), b"master secret", &crsr, 48).unwrap();
            assert_eq!(normal.master_secret(), &want[..]);
            let want = prf(
                hash,
                &pre_master(),
                b"extended master secret",
                &session_hash,
                48,
            )
            .unwrap();
            assert_eq!(ems.master_secret(), &want[..]);

            // Key block: master secret, "key expansion", server + client random.
            let srcr = [&SR[..], &CR[..]].concat();
            let want = prf(
                hash,
                normal.master_secret(),
                b"key expansion",
                &srcr,
                suite(cs).key_block_len(),
            )
            .unwrap();
            assert_eq!(normal.key_block(), &want[..]);

            // Swapping the randoms changes everything.
            let swapped = SessionSecrets::new(suite(cs), &SR, &CR, pre_master(), None).unwrap();
            assert_ne!(swapped.master_secret(), normal.master_secret());
        }
    }

    #[test]
    fn key_block_partition() {
        for (cs, k, iv) in [
            (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 16, 4),
            (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 32, 4),
            (
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                32,
                12,
            ),
        ] {
            let s = secrets(cs, None);
            let kb = s.key_block();
            assert_eq!(kb.len(), 2 * k + 2 * iv);
            assert_eq!(s.client_write_key().len(), k);
            assert_eq!(s.server_write_key().len(), k);
            assert_eq!(s.client_write_iv().len(), iv);
            assert_eq!(s.server_write_iv().len(), iv);
            assert_eq!(s.client_write_key(), &kb[..k]);
            assert_eq!(s.server_write_key(), &kb[k..2 * k]);
            assert_eq!(s.client_write_iv(), &kb[2 * k..2 * k + iv]);
            assert_eq!(s.server_write_iv(), &kb[2 * k + iv..]);
            assert_ne!(s.client_write_key(), s.server_write_key());
            assert_eq!(
                s.suite().bulk.key_len() + s.suite().bulk.fixed_iv_len(),
                k + iv
            );
        }
        assert_eq!(BulkCipher::Chacha20Poly1305.fixed_iv_len(), 12);
    }

    #[test]
    fn verify_data_labels() {
        let hash = [0x42u8; 32];
        for cs in [
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ] {
            let s = secrets(cs, None);
            let client = s.verify_data(Role::Client, &hash).unwrap();
            let server = s.verify_data(Role::Server, &hash).unwrap();
            assert_ne!(client, server);
            let h = s.suite().hash;
            let want = prf(h, s.master_secret(), b"client finished", &hash, 12).unwrap();
            assert_eq!(&client[..], &want[..]);
            let want = prf(h, s.master_secret(), b"server finished", &hash, 12).unwrap();
            assert_eq!(&server[..], &want[..]);
            // The handshake hash matters.
            assert_ne!(client, s.verify_data(Role::Client, &[0x43; 32]).unwrap());
        }
    }

    #[test]
    fn ct_eq_and_hex() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn key_log_line_format() {
        let s = secrets(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256, None);
        let line = s.key_log_line();
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert_eq!(parts[0], "CLIENT_RANDOM");
        assert_eq!(parts[1].len(), 64);
        assert_eq!(parts[2].len(), 96);
        for p in &parts[1..] {
            assert!(
                p.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            );
        }
        assert_eq!(parts[1], hex(&CR));
        assert_eq!(parts[2], hex(s.master_secret()));
        assert!(!line.ends_with('\n'));
    }

    #[test]
    fn debug_shows_no_secret() {
        for ems in [None, Some(&[9u8; 32][..])] {
            let s = secrets(
                CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                ems,
            );
            let text = format!("{s:?} {s:#?}");
            assert!(text.contains("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
            assert!(text.contains(&format!("extended_master_secret: {}", ems.is_some())));
            for secret in [
                s.pre_master_secret(),
                s.master_secret(),
                s.key_block(),
                s.client_write_key(),
                s.server_write_key(),
                s.client_write_iv(),
                s.server_write_iv(),
            ] {
                assert!(!text.contains(&hex(&secret[..4])), "{text}");
                let as_list = format!("{:?}", &secret[..4]);
                assert!(!text.contains(as_list.trim_end_matches(']')), "{text}");
            }
        }
    }
}
