"""The independent TLS 1.2 client (tls12_client.py) against server-svc."""

import datetime

import grpc
import pytest

import tls12_client as t

ECDHE_RSA = [n for n, s in t.SUITE_BY_NAME.items() if s.key_exchange == "ECDHE_RSA"]
ECDHE_ECDSA = [n for n, s in t.SUITE_BY_NAME.items() if s.key_exchange == "ECDHE_ECDSA"]


def session(server_addr, ca_file, server_name, suite, message=b"hello", **kwargs):
    with grpc.insecure_channel(server_addr) as channel:
        client = t.TLS12Client(channel, t.load_ca(ca_file), server_name, t.SUITE_BY_NAME[suite], **kwargs)
        result = client.connect()
        reply = client.exchange(message)
        reply2 = client.exchange(b"second record")
        closed = client.close()
    return result, reply, reply2, closed


def test_prf_known_answers():
    # Outputs computed independently with `openssl kdf ... TLS1-PRF`.
    seed = bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c")
    out = t.prf(t.hashes.SHA256, bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label", seed, 100)
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
        "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66")
    seed = bytes.fromhex("cd665cf6a8447dd6ff8b27555edb7465")
    out = t.prf(t.hashes.SHA384, bytes.fromhex("b80b733d6ceefcdc71566ea48e5567df"), b"test label", seed, 148)
    assert out.hex() == (
        "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0"
        "e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425"
        "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e099070"
        "3d73e56f")


@pytest.mark.parametrize("suite", sorted(t.SUITE_BY_NAME))
def test_every_suite(server_addr, ca_file, server_name, suite):
    message = f"independent python client, {suite}".encode()
    result, reply, reply2, closed = session(server_addr, ca_file, server_name, suite, message,
                                            session_id=f"py-{suite[:40]}")
    assert result.suite.name == suite
    assert result.extended_master_secret
    assert reply == b"echo: " + message
    assert reply2 == b"echo: second record"
    assert closed, "close_notify answered with close_notify, then status OK"
    assert result.session_id == f"py-{suite[:40]}"
    assert [m[0] for m in result.transcript] == (
        [1, 2, 11] + ([] if suite.startswith("TLS_RSA") else [12]) + [14, 16, 20, 20])


@pytest.mark.parametrize("group", [t.GROUP_X25519, t.GROUP_SECP256R1, t.GROUP_SECP384R1])
def test_every_group_ecdhe_rsa(server_addr, ca_file, server_name, group):
    result, reply, _, _ = session(server_addr, ca_file, server_name, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                                  groups=(group,))
    assert result.group == group
    assert reply == b"echo: hello"


@pytest.mark.parametrize("group", [t.GROUP_X25519, t.GROUP_SECP256R1])
def test_groups_ecdhe_ecdsa(server_addr, ca_file, server_name, group):
    # RFC 8422 5.1.1: supported_groups also names the curves the client accepts
    # in the server's ECDSA certificate (P-256 here), so it must list secp256r1.
    groups = (group,) if group == t.GROUP_SECP256R1 else (group, t.GROUP_SECP256R1)
    result, reply, _, _ = session(server_addr, ca_file, server_name, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                  groups=groups)
    assert result.group == group
    assert reply == b"echo: hello"


def test_ecdsa_certificate_curve_must_be_offered(server_addr, ca_file, server_name):
    with pytest.raises(t.TLSError) as info:
        session(server_addr, ca_file, server_name, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                groups=(t.GROUP_X25519,))
    e = info.value
    assert e.raised_by_server and e.alert == t.ALERT_HANDSHAKE_FAILURE
    assert e.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
    assert e.grpc_metadata == {**e.grpc_metadata, "tls-alert": "handshake_failure", "tls-step": "2"}


@pytest.mark.parametrize("scheme", [0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806])
def test_rsa_signature_schemes(server_addr, ca_file, server_name, scheme):
    # ServerKeyExchange signed with RSASSA-PKCS1-v1_5 or RSASSA-PSS, as offered.
    result, reply, _, _ = session(server_addr, ca_file, server_name, ECDHE_RSA[0], signature_schemes=(scheme,))
    assert result.signature_scheme == scheme
    assert reply == b"echo: hello"


def test_ecdsa_signature_schemes(server_addr, ca_file, server_name):
    result, reply, _, _ = session(server_addr, ca_file, server_name, ECDHE_ECDSA[0], signature_schemes=(0x0403,))
    assert result.signature_scheme == 0x0403
    assert reply == b"echo: hello"
    # tls.proto: in TLS 1.2 an ECDSA code point names the hash only, so the
    # lab's P-256 key signs SHA-384 and SHA-512 digests when those are all
    # a client offers; `cryptography` checks each signature independently.
    for scheme in (0x0503, 0x0603):
        result, reply, _, _ = session(server_addr, ca_file, server_name, ECDHE_ECDSA[0], signature_schemes=(scheme,))
        assert result.signature_scheme == scheme
        assert reply == b"echo: hello"
    # SHA-1 never (RFC 9155): a client that can verify nothing else is refused.
    with pytest.raises(t.TLSError) as info:
        session(server_addr, ca_file, server_name, ECDHE_ECDSA[0], signature_schemes=(0x0203,))
    assert info.value.alert == t.ALERT_INSUFFICIENT_SECURITY and info.value.raised_by_server


@pytest.mark.parametrize("suite", ["TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"])
def test_without_extended_master_secret(server_addr, ca_file, server_name, suite):
    result, reply, _, _ = session(server_addr, ca_file, server_name, suite, extended_master_secret=False)
    assert not result.extended_master_secret
    assert reply == b"echo: hello"


def test_wrong_server_name_is_refused_by_the_client(server_addr, ca_file):
    with pytest.raises(t.TLSError) as info:
        session(server_addr, ca_file, "not-the-server.example", "TLS_RSA_WITH_AES_128_GCM_SHA256")
    e = info.value
    assert e.alert == t.ALERT_BAD_CERTIFICATE and not e.raised_by_server
    # The client's fatal alert (in the clear) ends server-svc's stream naming it.
    assert e.grpc_metadata.get("tls-alert") == "bad_certificate"


def test_chain_checks(server_addr, ca_file, server_name):
    """verify_chain on the chain server-svc sends: dates and a foreign CA."""
    with grpc.insecure_channel(server_addr) as channel:
        client = t.TLS12Client(channel, t.load_ca(ca_file), server_name,
                               t.SUITE_BY_NAME["TLS_RSA_WITH_AES_128_GCM_SHA256"])
        client.connect()
        client.close()
    # The Certificate message as the transcript holds it: u8(11) || u24 || v24( v24(cert)... ).
    body = client.result.transcript[2][4:]
    chain, rest = [], body[3:]
    while rest:
        n = int.from_bytes(rest[:3], "big")
        chain.append(rest[3:3 + n])
        rest = rest[3 + n:]
    ca = t.load_ca(ca_file)
    assert t.verify_chain(chain, ca, server_name)
    assert t.verify_chain(chain, ca, "127.0.0.1")
    with pytest.raises(t.TLSError) as info:
        t.verify_chain(chain, ca, server_name, now=datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc))
    assert info.value.alert == t.ALERT_CERTIFICATE_EXPIRED
    other_ca = t.x509.load_der_x509_certificate(chain[0])  # not a CA at all: no path
    with pytest.raises(t.TLSError) as info:
        t.verify_chain(chain, other_ca, server_name)
    assert info.value.alert == t.ALERT_UNKNOWN_CA


def test_bad_finished_gets_decrypt_error_and_unauthenticated(server_addr, ca_file, server_name):
    with pytest.raises(t.TLSError) as info:
        session(server_addr, ca_file, server_name, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                corrupt_finished=True)
    e = info.value
    assert e.raised_by_server and e.alert == t.ALERT_DECRYPT_ERROR
    assert e.grpc_code == grpc.StatusCode.UNAUTHENTICATED
    assert e.grpc_metadata["tls-alert"] == "decrypt_error"
    assert e.grpc_metadata["tls-step"] == "10"


def test_cli(server_addr, ca_file, capsys):
    assert t.main([server_addr, ca_file, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "--message", "cli"]) == 0
    assert "reply 'echo: cli'" in capsys.readouterr().out
