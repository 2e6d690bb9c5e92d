//! The cryptographic building blocks against the lab PKI: certificate
//! description and verification, the server key (scheme choice, signing,
//! RSA pre-master decryption with the Bleichenbacher countermeasure), the
//! client side of RSA key transport, and ECDHE.

mod common;

use std::collections::BTreeSet;

use common::pki::{self, Leaf, after_expiry, before_validity, pki, valid_now};
use handshake::KeyType;
use handshake::ServerKey;
use handshake::internal::kx::{self, EcdheKeyPair};
use handshake::msgs::enums::{NamedGroup, ProtocolVersion, SignatureScheme};
use handshake::{AlertDescription, Error};
use handshake::{Rng, SeededRng, SystemRng};
use handshake::{
    ServerCertVerifier,
    internal::verify::{self},
};
use rustls_pki_types::{CertificateDer, ServerName};

fn alert<T: std::fmt::Debug>(r: Result<T, Error>) -> AlertDescription {
    r.expect_err("expected an error").alert()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dns(name: &'static str) -> ServerName<'static> {
    ServerName::try_from(name).unwrap()
}

fn leaves() -> [(&'static str, &'static Leaf); 3] {
    let p = pki();
    [
        ("rsa", &p.rsa),
        ("ecdsa_p256", &p.ecdsa_p256),
        ("ecdsa_p384", &p.ecdsa_p384),
    ]
}

fn key(leaf: &Leaf) -> ServerKey {
    ServerKey::from_pkcs8(&leaf.key_pkcs8).unwrap()
}

fn verifier() -> ServerCertVerifier {
    ServerCertVerifier::new(std::slice::from_ref(&pki().ca)).unwrap()
}

// ---------------------------------------------------------------- certificates

#[test]
fn certificate_info_describes_each_leaf() {
    let expected = [
        (Some(KeyType::Rsa), "RSA 2048 bits", "localhost (RSA)"),
        (
            Some(KeyType::Ecdsa),
            "ECDSA P-256",
            "localhost (ECDSA P-256)",
        ),
        (
            Some(KeyType::Ecdsa),
            "ECDSA P-384",
            "localhost (ECDSA P-384)",
        ),
    ];
    for ((name, leaf), (key_type, desc, cn)) in leaves().into_iter().zip(expected) {
        let der = leaf.cert().as_ref();
        let info = verify::certificate_info(der).unwrap();
        assert_eq!(info.dns_names, ["localhost", "server.lab.test"], "{name}");
        assert_eq!(info.ip_addresses, ["127.0.0.1"], "{name}");
        assert_eq!(info.not_before, pki::LEAF_NOT_BEFORE as i64, "{name}");
        assert_eq!(info.not_after, pki::LEAF_NOT_AFTER as i64, "{name}");
        assert_eq!(info.key_type, key_type, "{name}");
        assert_eq!(info.public_key_description, desc, "{name}");
        let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        assert_eq!(info.sha256_fingerprint, hex(sha.as_ref()), "{name}");
        assert_eq!(info.sha256_fingerprint.len(), 64);
        assert!(
            info.subject.contains(&format!("CN={cn}")),
            "{name}: {}",
            info.subject
        );
        assert!(
            info.issuer.contains("CN=TLS Lab Root CA"),
            "{name}: {}",
            info.issuer
        );
        assert!(!info.is_ca, "{name}");
        assert!(!info.serial_hex.is_empty());
    }
    let serials: BTreeSet<_> = leaves()
        .iter()
        .map(|(_, l)| verify::certificate_info(l.cert()).unwrap().serial_hex)
        .collect();
    assert_eq!(serials.len(), 3, "each leaf has its own serial");
}

#[test]
fn certificate_info_of_the_ca() {
    let info = verify::certificate_info(&pki().ca).unwrap();
    assert!(info.is_ca);
    assert_eq!(info.subject, info.issuer, "self-signed");
    assert_eq!(info.key_type, Some(KeyType::Ecdsa));
    assert!(info.dns_names.is_empty() && info.ip_addresses.is_empty());
}

#[test]
fn certificate_info_rejects_malformed_der() {
    assert_eq!(
        alert(verify::certificate_info(b"")),
        AlertDescription::BAD_CERTIFICATE
    );
    assert_eq!(
        alert(verify::certificate_info(&[0x30, 0x03, 1, 2, 3])),
        AlertDescription::BAD_CERTIFICATE
    );
    let mut trailing = pki().rsa.cert().to_vec();
    trailing.push(0);
    assert_eq!(
        alert(verify::certificate_info(&trailing)),
        AlertDescription::BAD_CERTIFICATE
    );
    let truncated = &pki().rsa.cert()[..100];
    assert_eq!(
        alert(verify::certificate_info(truncated)),
        AlertDescription::BAD_CERTIFICATE
    );
}

#[test]
fn verify_accepts_each_leaf_by_dns_name_and_ip() {
    let v = verifier();
    let ip = ServerName::IpAddress(pki::LEAF_IP.into());
    for (name, leaf) in leaves() {
        for server_name in [dns("localhost"), dns("server.lab.test"), ip.clone()] {
            v.verify(&leaf.chain, &server_name, valid_now())
                .unwrap_or_else(|e| panic!("{name} {server_name:?}: {e}"));
        }
    }
}

#[test]
fn verify_wrong_name_is_bad_certificate() {
    let v = verifier();
    for (name, leaf) in leaves() {
        let e = v
            .verify(&leaf.chain, &dns("example.com"), valid_now())
            .unwrap_err();
        assert_eq!(e.alert(), AlertDescription::BAD_CERTIFICATE, "{name}: {e}");
        assert!(e.reason().contains("example.com"), "{name}: {e}");
        assert!(e.reason().contains("server.lab.test"), "{name}: {e}");
    }
    let other_ip = ServerName::IpAddress(std::net::IpAddr::from([10, 0, 0, 1]).into());
    let e = v
        .verify(&pki().rsa.chain, &other_ip, valid_now())
        .unwrap_err();
    assert_eq!(e.alert(), AlertDescription::BAD_CERTIFICATE, "{e}");
}

#[test]
fn verify_other_ca_is_unknown_ca() {
    let e = verifier()
        .verify(&pki().other_ca_rsa.chain, &dns("localhost"), valid_now())
        .unwrap_err();
    assert_eq!(e.alert(), AlertDescription::UNKNOWN_CA, "{e}");
    // The same leaf is fine for a client that trusts its CA: the failure
    // above is about trust, not about the certificate.
    ServerCertVerifier::new(std::slice::from_ref(&pki().other_ca))
        .unwrap()
        .verify(&pki().other_ca_rsa.chain, &dns("localhost"), valid_now())
        .unwrap();
}

#[test]
fn verify_outside_validity_is_certificate_expired() {
    let v = verifier();
    for (name, leaf) in leaves() {
        let e = v
            .verify(&leaf.chain, &dns("localhost"), after_expiry())
            .unwrap_err();
        assert_eq!(
            e.alert(),
            AlertDescription::CERTIFICATE_EXPIRED,
            "{name}: {e}"
        );
        assert!(e.reason().contains("2035-01-01T00:00:00Z"), "{name}: {e}");
        assert!(e.reason().contains("2036-01-01T00:00:00Z"), "{name}: {e}");
        let e = v
            .verify(&leaf.chain, &dns("localhost"), before_validity())
            .unwrap_err();
        assert_eq!(
            e.alert(),
            AlertDescription::CERTIFICATE_EXPIRED,
            "{name}: {e}"
        );
        assert!(e.reason().contains("2025-01-01T00:00:00Z"), "{name}: {e}");
    }
}

#[test]
fn verify_wrong_purpose_is_unsupported_certificate() {
    let mut params = pki::leaf_params("client only", false);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = pki().issue(&rcgen::PKCS_ECDSA_P256_SHA256, &params);
    let e = verifier()
        .verify(&leaf.chain, &dns("localhost"), valid_now())
        .unwrap_err();
    assert_eq!(e.alert(), AlertDescription::UNSUPPORTED_CERTIFICATE, "{e}");
}

#[test]
fn verify_garbage_chain_is_bad_certificate() {
    let v = verifier();
    for garbage in [
        vec![],
        vec![0x30, 0x80],
        b"-----BEGIN CERTIFICATE-----".to_vec(),
    ] {
        let chain = [CertificateDer::from(garbage)];
        let e = v
            .verify(&chain, &dns("localhost"), valid_now())
            .unwrap_err();
        assert_eq!(e.alert(), AlertDescription::BAD_CERTIFICATE, "{e}");
    }
}

#[test]
fn verify_empty_chain_is_an_error() {
    let e = verifier()
        .verify(&[], &dns("localhost"), valid_now())
        .unwrap_err();
    assert_eq!(e.alert(), AlertDescription::BAD_CERTIFICATE, "{e}");
}

#[test]
fn verifier_needs_usable_roots() {
    assert_eq!(
        alert(ServerCertVerifier::new(&[])),
        AlertDescription::INTERNAL_ERROR
    );
    let garbage = CertificateDer::from(vec![0x30, 0x00]);
    assert_eq!(
        alert(ServerCertVerifier::new(&[pki().ca.clone(), garbage])),
        AlertDescription::INTERNAL_ERROR
    );
}

// ---------------------------------------------------------------- server key

#[test]
fn server_key_types_and_curves() {
    let p = pki();
    let cases = [
        (&p.rsa, KeyType::Rsa, None),
        (&p.ecdsa_p256, KeyType::Ecdsa, Some(NamedGroup::SECP256R1)),
        (&p.ecdsa_p384, KeyType::Ecdsa, Some(NamedGroup::SECP384R1)),
        (&p.other_ca_rsa, KeyType::Rsa, None),
    ];
    for (leaf, key_type, curve) in cases {
        let k = key(leaf);
        assert_eq!(k.key_type(), key_type);
        assert_eq!(k.curve(), curve);
        let dbg = format!("{k:?}");
        assert!(dbg.contains(&format!("{key_type:?}")), "{dbg}");
        assert!(dbg.len() < 80, "Debug shows the key type only: {dbg}");
    }
}

#[test]
fn key_matches_its_own_certificate_only() {
    let p = pki();
    let all = [&p.rsa, &p.ecdsa_p256, &p.ecdsa_p384, &p.other_ca_rsa];
    for (i, a) in all.iter().enumerate() {
        let k = key(a);
        for (j, b) in all.iter().enumerate() {
            assert_eq!(
                verify::key_matches_certificate(&k, b.cert()).unwrap(),
                i == j,
                "key {i} vs certificate {j}"
            );
        }
    }
    assert_eq!(
        alert(verify::key_matches_certificate(&key(&p.rsa), b"junk")),
        AlertDescription::BAD_CERTIFICATE
    );
}

#[test]
fn server_key_rejects_other_keys() {
    for bad in [
        b"".to_vec(),
        b"not a key".to_vec(),
        pki().rsa.cert().to_vec(),
    ] {
        let e = ServerKey::from_pkcs8(&bad).unwrap_err();
        assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
        assert!(!e.reason().is_empty());
    }
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let e = ServerKey::from_pkcs8(&ed.serialize_der()).unwrap_err();
    assert_eq!(e.alert(), AlertDescription::INTERNAL_ERROR);
    assert!(e.reason().contains("Ed25519"), "{e}");
}

#[test]
fn choose_scheme_follows_server_preference() {
    use SignatureScheme as S;
    let p = pki();
    let (rsa, p256, p384) = (key(&p.rsa), key(&p.ecdsa_p256), key(&p.ecdsa_p384));

    let pkcs1_only = [S::RSA_PKCS1_SHA1, S::RSA_PKCS1_SHA512, S::RSA_PKCS1_SHA384];
    assert_eq!(rsa.choose_scheme(&pkcs1_only), Some(S::RSA_PKCS1_SHA384));
    let with_pss = [
        S::RSA_PKCS1_SHA256,
        S::ECDSA_NISTP256_SHA256,
        S::RSA_PSS_RSAE_SHA512,
    ];
    assert_eq!(rsa.choose_scheme(&with_pss), Some(S::RSA_PSS_RSAE_SHA512));
    let browser = [
        S::ECDSA_NISTP256_SHA256,
        S::RSA_PSS_RSAE_SHA256,
        S::RSA_PKCS1_SHA256,
        S::ECDSA_NISTP384_SHA384,
        S::RSA_PSS_RSAE_SHA384,
        S::RSA_PKCS1_SHA384,
    ];
    assert_eq!(rsa.choose_scheme(&browser), Some(S::RSA_PSS_RSAE_SHA256));
    assert_eq!(p256.choose_scheme(&browser), Some(S::ECDSA_NISTP256_SHA256));
    assert_eq!(p384.choose_scheme(&browser), Some(S::ECDSA_NISTP384_SHA384));

    let sha1_only = [S::RSA_PKCS1_SHA1, S::ECDSA_SHA1];
    for k in [&rsa, &p256, &p384] {
        assert_eq!(k.choose_scheme(&sha1_only), None);
        assert_eq!(k.choose_scheme(&[]), None);
    }
    // An ECDSA key signs with any offered SHA-2 hash (TLS 1.2 names only
    // the hash), its curve's own first, never SHA-224 (0x0303).
    assert_eq!(
        p256.choose_scheme(&[S::ECDSA_NISTP384_SHA384]),
        Some(S::ECDSA_NISTP384_SHA384)
    );
    assert_eq!(
        p384.choose_scheme(&[S::ECDSA_NISTP256_SHA256]),
        Some(S::ECDSA_NISTP256_SHA256)
    );
    assert_eq!(
        p384.choose_scheme(&[S::ECDSA_NISTP256_SHA256, S::ECDSA_NISTP521_SHA512]),
        Some(S::ECDSA_NISTP521_SHA512)
    );
    assert_eq!(p256.choose_scheme(&[S(0x0303), S::ECDSA_SHA1]), None);
    assert_eq!(
        rsa.choose_scheme(&[S::ECDSA_NISTP256_SHA256, S::ECDSA_NISTP384_SHA384]),
        None
    );
    assert_eq!(
        p256.choose_scheme(&[S::RSA_PSS_RSAE_SHA256, S::RSA_PKCS1_SHA256]),
        None
    );
    assert_eq!(p256.choose_scheme(&[S::ED25519, S(0x0a0a)]), None);
}

/// Every scheme `choose_scheme` can return for `k`: offer each one alone.
fn choosable(k: &ServerKey) -> Vec<SignatureScheme> {
    SignatureScheme::KNOWN
        .iter()
        .copied()
        .filter(|s| k.choose_scheme(&[*s]) == Some(*s))
        .collect()
}

#[test]
fn sign_then_verify_every_choosable_scheme() {
    use SignatureScheme as S;
    let message = b"client_random || server_random || ServerECDHParams".repeat(3);
    let mut checked = 0;
    for (name, leaf) in leaves() {
        let k = key(leaf);
        let schemes = choosable(&k);
        let expected_count = if k.key_type() == KeyType::Rsa { 6 } else { 3 };
        assert_eq!(schemes.len(), expected_count, "{name}: {schemes:?}");
        assert!(!schemes.contains(&S::RSA_PKCS1_SHA1) && !schemes.contains(&S::ECDSA_SHA1));
        for scheme in schemes {
            let sig = k.sign(scheme, &message).unwrap();
            verify::verify_signature(leaf.cert(), scheme, &message, &sig)
                .unwrap_or_else(|e| panic!("{name} {scheme:?}: {e}"));

            let mut bad_msg = message.clone();
            bad_msg[7] ^= 0x01;
            let e = verify::verify_signature(leaf.cert(), scheme, &bad_msg, &sig).unwrap_err();
            assert_eq!(
                e.alert(),
                AlertDescription::DECRYPT_ERROR,
                "{name} {scheme:?}: {e}"
            );

            let mut bad_sig = sig.clone();
            let last = bad_sig.len() - 1;
            bad_sig[last] ^= 0x01;
            let e = verify::verify_signature(leaf.cert(), scheme, &message, &bad_sig).unwrap_err();
            assert_eq!(
                e.alert(),
                AlertDescription::DECRYPT_ERROR,
                "{name} {scheme:?}: {e}"
            );

            // Someone else's key does not verify it either.
            let other = &pki().other_ca_rsa;
            if k.key_type() == KeyType::Rsa {
                let e = verify::verify_signature(other.cert(), scheme, &message, &sig).unwrap_err();
                assert_eq!(e.alert(), AlertDescription::DECRYPT_ERROR);
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 12,
        "6 RSA schemes + SHA-256, -384 and -512 per ECDSA curve"
    );
}

#[test]
fn sign_with_a_scheme_that_does_not_fit_is_internal_error() {
    use SignatureScheme as S;
    let p = pki();
    let m = b"message";
    assert_eq!(
        alert(key(&p.rsa).sign(S::ECDSA_NISTP256_SHA256, m)),
        AlertDescription::INTERNAL_ERROR
    );
    assert_eq!(
        alert(key(&p.rsa).sign(S::RSA_PKCS1_SHA1, m)),
        AlertDescription::INTERNAL_ERROR
    );
    assert_eq!(
        alert(key(&p.ecdsa_p256).sign(S::RSA_PSS_RSAE_SHA256, m)),
        AlertDescription::INTERNAL_ERROR
    );
    assert_eq!(
        alert(key(&p.ecdsa_p384).sign(S::ED25519, m)),
        AlertDescription::INTERNAL_ERROR
    );
    assert_eq!(
        alert(key(&p.ecdsa_p384).sign(S::ECDSA_SHA1, m)),
        AlertDescription::INTERNAL_ERROR
    );
}

#[test]
fn verify_signature_rejects_schemes_outside_the_list() {
    use SignatureScheme as S;
    let p = pki();
    let m = b"message";
    let sig = key(&p.rsa).sign(S::RSA_PKCS1_SHA256, m).unwrap();
    for scheme in [
        S::RSA_PKCS1_SHA1,
        S::ECDSA_SHA1,
        S::ED25519,
        S(0x1234),
        S(0x0a0a),
    ] {
        let e = verify::verify_signature(p.rsa.cert(), scheme, m, &sig).unwrap_err();
        assert_eq!(
            e.alert(),
            AlertDescription::ILLEGAL_PARAMETER,
            "{scheme:?}: {e}"
        );
    }
    // A known scheme for the wrong kind of key.
    let e = verify::verify_signature(p.rsa.cert(), S::ECDSA_NISTP256_SHA256, m, &sig).unwrap_err();
    assert_eq!(e.alert(), AlertDescription::ILLEGAL_PARAMETER, "{e}");
    let ec_sig = key(&p.ecdsa_p256)
        .sign(S::ECDSA_NISTP256_SHA256, m)
        .unwrap();
    let e = verify::verify_signature(p.ecdsa_p256.cert(), S::RSA_PSS_RSAE_SHA256, m, &ec_sig)
        .unwrap_err();
    assert_eq!(e.alert(), AlertDescription::ILLEGAL_PARAMETER, "{e}");
}

// ---------------------------------------------------------------- RSA key transport

const TLS12: ProtocolVersion = ProtocolVersion::TLSV1_2;

/// The 46 bytes `decrypt_pre_master` will draw first from a copy of `rng`.
fn next_46(rng: &SeededRng) -> Vec<u8> {
    let mut probe = rng.clone();
    let mut r = vec![0u8; 46];
    probe.fill(&mut r).unwrap();
    r
}

fn fallback(rng: &SeededRng) -> Vec<u8> {
    [&[0x03, 0x03][..], &next_46(rng)].concat()
}

#[test]
fn rsa_pre_master_round_trip() {
    let p = pki();
    let pm = kx::rsa_pre_master(TLS12, &mut SeededRng::new(7)).unwrap();
    assert_eq!(pm.len(), 48);
    assert_eq!(&pm[..2], &[0x03, 0x03]);
    assert_eq!(
        *pm,
        *kx::rsa_pre_master(TLS12, &mut SeededRng::new(7)).unwrap(),
        "seeded"
    );
    assert_ne!(
        *pm,
        *kx::rsa_pre_master(TLS12, &mut SeededRng::new(8)).unwrap()
    );

    let ct = kx::rsa_encrypt_pre_master(p.rsa.cert(), &pm).unwrap();
    assert_eq!(ct.len(), 256, "RSA-2048 ciphertext");
    let ct2 = kx::rsa_encrypt_pre_master(p.rsa.cert(), &pm).unwrap();
    assert_ne!(ct, ct2, "PKCS#1 v1.5 padding is random");

    let k = key(&p.rsa);
    let rng = SeededRng::new(99);
    for c in [&ct, &ct2] {
        let got = k.decrypt_pre_master(c, TLS12, &mut rng.clone()).unwrap();
        assert_eq!(*got, *pm);
        assert_ne!(*got, fallback(&rng));
    }
}

#[test]
fn rsa_decrypt_of_a_corrupted_ciphertext_gives_a_random_pre_master() {
    let p = pki();
    let pm = kx::rsa_pre_master(TLS12, &mut SystemRng).unwrap();
    let mut ct = kx::rsa_encrypt_pre_master(p.rsa.cert(), &pm).unwrap();
    ct[100] ^= 0x40;
    let k = key(&p.rsa);
    let rng = SeededRng::new(1);
    let got = k.decrypt_pre_master(&ct, TLS12, &mut rng.clone()).unwrap();
    assert_eq!(got.len(), 48);
    assert_eq!(&got[..2], &[0x03, 0x03]);
    assert_ne!(*got, *pm);
    assert_eq!(
        *got,
        fallback(&rng),
        "client_version || R (RFC 5246 7.4.7.1)"
    );
}

#[test]
fn rsa_decrypt_of_a_wrong_length_plaintext_gives_a_random_pre_master() {
    let p = pki();
    let k = key(&p.rsa);
    for len in [0, 2, 47, 49, 100] {
        let mut m = vec![0x55u8; len];
        if len >= 2 {
            m[..2].copy_from_slice(&[0x03, 0x03]);
        }
        let ct = kx::rsa_encrypt_pre_master(p.rsa.cert(), &m).unwrap();
        let rng = SeededRng::new(len as u64);
        let got = k.decrypt_pre_master(&ct, TLS12, &mut rng.clone()).unwrap();
        assert_eq!(got.len(), 48);
        assert_eq!(*got, fallback(&rng), "length {len}");
    }
}

#[test]
fn rsa_decrypt_of_a_wrong_version_pre_master_keeps_client_version() {
    let p = pki();
    let mut pm = vec![0x03, 0x01];
    let mut body = [0u8; 46];
    SystemRng.fill(&mut body).unwrap();
    pm.extend_from_slice(&body);
    let ct = kx::rsa_encrypt_pre_master(p.rsa.cert(), &pm).unwrap();
    let rng = SeededRng::new(5);
    let got = key(&p.rsa)
        .decrypt_pre_master(&ct, TLS12, &mut rng.clone())
        .unwrap();
    assert_eq!(got.len(), 48);
    assert_eq!(&got[..2], &[0x03, 0x03], "ClientHello.client_version wins");
    assert_ne!(*got, pm);
    // RFC 5246 7.4.7.1: "pre_master_secret = ClientHello.client_version || M[2..47]".
    assert_eq!(&got[2..], &pm[2..]);
}

#[test]
fn rsa_decrypt_of_garbage_never_fails() {
    let p = pki();
    let k = key(&p.rsa);
    for (i, ct) in [
        vec![],
        vec![0u8; 10],
        vec![0xffu8; 255],
        vec![0xffu8; 256],
        vec![7u8; 257],
        vec![1u8; 512],
    ]
    .into_iter()
    .enumerate()
    {
        let rng = SeededRng::new(1000 + i as u64);
        let got = k.decrypt_pre_master(&ct, TLS12, &mut rng.clone()).unwrap();
        assert_eq!(*got, fallback(&rng), "ciphertext of {} bytes", ct.len());
    }
    // The client_version is the one passed in, whatever it is.
    let rng = SeededRng::new(3);
    let got = k
        .decrypt_pre_master(&[1, 2, 3], ProtocolVersion::TLSV1_0, &mut rng.clone())
        .unwrap();
    assert_eq!(&got[..2], &[0x03, 0x01]);
    assert_eq!(&got[2..], &next_46(&rng)[..]);
}

#[test]
fn rsa_key_transport_needs_rsa_keys() {
    let p = pki();
    let pm = kx::rsa_pre_master(TLS12, &mut SystemRng).unwrap();
    assert_eq!(
        alert(kx::rsa_encrypt_pre_master(p.ecdsa_p256.cert(), &pm)),
        AlertDescription::UNSUPPORTED_CERTIFICATE
    );
    assert_eq!(
        alert(kx::rsa_encrypt_pre_master(p.ecdsa_p384.cert(), &pm)),
        AlertDescription::UNSUPPORTED_CERTIFICATE
    );
    assert_eq!(
        alert(kx::rsa_encrypt_pre_master(b"junk", &pm)),
        AlertDescription::BAD_CERTIFICATE
    );
    assert_eq!(
        alert(key(&p.ecdsa_p256).decrypt_pre_master(&[0; 256], TLS12, &mut SystemRng)),
        AlertDescription::INTERNAL_ERROR
    );
}

// ---------------------------------------------------------------- ECDHE

const GROUPS: [(NamedGroup, usize, usize); 3] = [
    (NamedGroup::X25519, 32, 32),
    (NamedGroup::SECP256R1, 65, 32),
    (NamedGroup::SECP384R1, 97, 48),
];

#[test]
fn ecdhe_both_sides_agree_for_each_group() {
    for (group, public_len, secret_len) in GROUPS {
        assert!(kx::is_supported_group(group));
        let a = EcdheKeyPair::generate(group, &mut SystemRng).unwrap();
        let b = EcdheKeyPair::generate(group, &mut SystemRng).unwrap();
        assert_eq!(a.group(), group);
        assert_eq!(a.public_key().len(), public_len, "{group:?}");
        if group != NamedGroup::X25519 {
            assert_eq!(a.public_key()[0], 0x04, "uncompressed point");
        }
        assert_ne!(a.public_key(), b.public_key());
        let (pa, pb) = (a.public_key().to_vec(), b.public_key().to_vec());
        let s1 = a.agree(&pb).unwrap();
        let s2 = b.agree(&pa).unwrap();
        assert_eq!(s1.len(), secret_len, "{group:?}");
        assert_eq!(*s1, *s2, "{group:?}");
    }
    assert!(!kx::is_supported_group(NamedGroup::SECP521R1));
    assert!(!kx::is_supported_group(NamedGroup::X448));
}

#[test]
fn ecdhe_seeded_rng_gives_the_same_key() {
    for (group, ..) in GROUPS {
        let a = EcdheKeyPair::generate(group, &mut SeededRng::new(42)).unwrap();
        let b = EcdheKeyPair::generate(group, &mut SeededRng::new(42)).unwrap();
        let c = EcdheKeyPair::generate(group, &mut SeededRng::new(43)).unwrap();
        assert_eq!(a.public_key(), b.public_key(), "{group:?}");
        assert_ne!(a.public_key(), c.public_key(), "{group:?}");
        // Same private key too: both agree on the same secret with a third party.
        let peer = EcdheKeyPair::generate(group, &mut SystemRng).unwrap();
        let pp = peer.public_key().to_vec();
        assert_eq!(*a.agree(&pp).unwrap(), *b.agree(&pp).unwrap());
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains(&hex(c.public_key())) && !dbg.contains("private"),
            "{dbg}"
        );
    }
}

#[test]
fn ecdhe_rejects_invalid_peer_points() {
    for (group, public_len, _) in GROUPS {
        let fresh = || EcdheKeyPair::generate(group, &mut SystemRng).unwrap();
        let good = fresh().public_key().to_vec();
        let mut bad: Vec<Vec<u8>> = vec![
            vec![],
            good[..public_len - 1].to_vec(),
            [&good[..], &[0]].concat(),
        ];
        if group == NamedGroup::X25519 {
            bad.push(vec![0u8; 32]); // low order: all-zero shared secret
            let mut one = vec![0u8; 32];
            one[0] = 1; // u = 1, also low order
            bad.push(one);
        } else {
            let coord = (public_len - 1) / 2;
            bad.push([&[0x04][..], &vec![0xff; public_len - 1]].concat()); // coordinates out of range
            bad.push([&[0x04][..], &vec![0x00; public_len - 1]].concat()); // (0, 0)
            let mut off_curve = good.clone();
            off_curve[public_len - 1] ^= 0x01; // Y no longer matches X
            bad.push(off_curve);
            // A valid point, compressed (RFC 8422: uncompressed only).
            let mut compressed = vec![0x02 | (good[public_len - 1] & 1)];
            compressed.extend_from_slice(&good[1..1 + coord]);
            bad.push(compressed);
            let mut wrong_form = good.clone();
            wrong_form[0] = 0x06; // "hybrid"
            bad.push(wrong_form);
            bad.push(vec![0x00]); // the point at infinity
        }
        for point in bad {
            let e = fresh().agree(&point).unwrap_err();
            assert_eq!(
                e.alert(),
                AlertDescription::ILLEGAL_PARAMETER,
                "{group:?} {}: {e}",
                hex(&point)
            );
        }
    }
    // A point from the wrong group.
    let p256 = EcdheKeyPair::generate(NamedGroup::SECP256R1, &mut SystemRng).unwrap();
    let p384 = EcdheKeyPair::generate(NamedGroup::SECP384R1, &mut SystemRng).unwrap();
    assert_eq!(
        alert(p384.agree(p256.public_key())),
        AlertDescription::ILLEGAL_PARAMETER
    );
}

#[test]
fn unsupported_group_is_internal_error() {
    for group in [NamedGroup::SECP521R1, NamedGroup::X448, NamedGroup(0x1234)] {
        assert_eq!(
            alert(EcdheKeyPair::generate(group, &mut SystemRng)),
            AlertDescription::INTERNAL_ERROR
        );
    }
}

#[test]
fn crypto_types_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<EcdheKeyPair>();
    send_sync::<ServerKey>();
    send_sync::<ServerCertVerifier>();
}
