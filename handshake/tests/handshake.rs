//! Full in-memory sessions: every suite, with and without the extended
//! master secret, then application data both ways.

mod common;

use common::pair::{Pair, client_config, server_config, steps};
use handshake::suites::ALL_SUITES;
use handshake::{CipherSuite, Role, Step};

fn run(suite: CipherSuite, ems_client: bool, ems_server: bool) -> Pair {
    let mut c = client_config();
    c.cipher_suites = vec![suite];
    c.extended_master_secret = ems_client;
    let mut s = server_config();
    s.extended_master_secret = ems_server;
    let mut pair = Pair::new(c, s);
    let out = pair.drive();
    assert!(
        out.client.is_none() && out.server.is_none(),
        "{suite:?}: {out:?}"
    );
    assert!(pair.client.is_handshake_complete(), "{suite:?}");
    assert!(pair.server.is_handshake_complete(), "{suite:?}");
    pair
}

#[test]
fn every_suite_completes_and_carries_data_both_ways() {
    for s in ALL_SUITES {
        for (ems_c, ems_s) in [(true, true), (false, true), (true, false)] {
            let mut pair = run(s.suite, ems_c, ems_s);
            let (cs, ss) = (
                pair.client.secrets().unwrap(),
                pair.server.secrets().unwrap(),
            );
            assert_eq!(cs.suite().suite, s.suite);
            assert_eq!(cs.master_secret(), ss.master_secret(), "{:?}", s.suite);
            assert_eq!(cs.extended_master_secret(), ems_c && ems_s);
            assert_eq!(ss.extended_master_secret(), ems_c && ems_s);
            assert_eq!(
                pair.send(Role::Client, b"GET / HTTP/1.1\r\n\r\n"),
                b"GET / HTTP/1.1\r\n\r\n"
            );
            assert_eq!(
                pair.send(Role::Server, b"hello, student"),
                b"hello, student"
            );
            // More than one record's worth.
            let big = vec![0x5a; 40_000];
            assert_eq!(pair.send(Role::Client, &big), big);
        }
    }
}

#[test]
fn client_reports_all_thirteen_steps_in_order() {
    let pair = run(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256, true, true);
    assert_eq!(steps(&pair.client_events), Step::ALL.to_vec());
    let pair = run(
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        true,
        true,
    );
    assert_eq!(steps(&pair.client_events), Step::ALL.to_vec());
}

#[test]
fn server_reports_the_steps_it_takes_part_in() {
    let pair = run(
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        true,
        true,
    );
    let expected: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|s| !matches!(s, Step::ClientVerification | Step::GenPreMaster))
        .collect();
    assert_eq!(steps(&pair.server_events), expected);
}
