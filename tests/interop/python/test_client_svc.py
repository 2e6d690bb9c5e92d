"""client-svc's HandshakeClientService through the generated stubs and
client_svc_client.py (the README's example)."""

import grpc
import pytest

import client_svc_client as csc
from handshake.v1 import service_pb2

SENT, RECEIVED, LOCAL = (service_pb2.DIRECTION_SENT, service_pb2.DIRECTION_RECEIVED,
                         service_pb2.DIRECTION_LOCAL)

# The thirteen steps (README's table): number, name, direction from client-svc.
STEPS = [
    (1, "Client Hello", SENT),
    (2, "Server Hello", RECEIVED),
    (3, "Server Certificate", RECEIVED),
    (4, "Server Hello Done", RECEIVED),
    (5, "Client Verification", LOCAL),
    (6, "Gen pre-master", LOCAL),
    (7, "Client Key Exchange", SENT),
    (8, "Gen secret key", LOCAL),
    (9, "Change Cipher Spec", SENT),
    (10, "Encrypted Handshake Message", SENT),
    (11, "Change Cipher Spec", RECEIVED),
    (12, "Encrypted Handshake Message", RECEIVED),
]


def check_steps(steps):
    assert [s.number for s in steps] == list(range(1, 14))
    assert [(s.number, s.name, s.direction) for s in steps[:12]] == STEPS
    assert steps[12].name == "Finish"
    assert not any(s.HasField("failure") for s in steps)
    elapsed = [s.elapsed_micros for s in steps]
    assert elapsed == sorted(elapsed)


@pytest.mark.parametrize("suite", csc.SUITES)
def test_handshake_every_suite(client_channel, suite):
    report = csc.handshake(client_channel, csc.session_options(suite, f"hi from python, {suite}"))
    assert report.success
    check_steps(report.steps)
    assert csc.tls_pb2.CipherSuite.Name(report.negotiated.cipher_suite) == "CIPHER_SUITE_" + suite
    assert report.negotiated.extended_master_secret
    assert report.reply == f"echo: hi from python, {suite}"
    assert report.certificate_verdict.startswith("trusted for")
    assert report.session_id
    for step in report.steps:
        csc.format_step(step)  # what the CLI prints


def test_handshake_default_message(client_channel):
    report = csc.handshake(client_channel, csc.session_options())
    assert report.success and report.reply == "echo: hello"


def test_watch_handshake(client_channel):
    events = list(csc.watch_handshake(client_channel,
                                      csc.session_options("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "watched")))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["step"] * 13 + ["report"]
    check_steps([e.step for e in events[:13]])
    report = events[13].report
    assert report.success and report.reply == "echo: watched"
    assert [s.number for s in report.steps] == list(range(1, 14))


def test_lab_failure_is_unauthenticated_with_tls_alert(client_channel):
    options = csc.session_options("TLS_RSA_WITH_AES_128_GCM_SHA256", corrupt_client_finished=True)
    with pytest.raises(grpc.RpcError) as info:
        csc.handshake(client_channel, options)
    e = info.value
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED
    md = dict(e.trailing_metadata())
    assert md["tls-alert"] == "decrypt_error"
    assert md["tls-step"] == "10"
    assert "decrypt_error" in csc.format_status(e)
    # The status details (grpc-status-details-bin) are a google.rpc.Status
    # with the call's own code and message, the report so far in an Any.
    status = csc.rich_status(e)
    assert status.code == grpc.StatusCode.UNAUTHENTICATED.value[0] == 16
    assert status.message == e.details()
    assert [d.type_url for d in status.details] == ["type.googleapis.com/handshake.v1.HandshakeReport"]
    report = csc.failure_report(e)
    assert not report.success
    assert report.failure.step == 10 and report.failure.raised_by_server
    assert report.failure.alert == csc.tls_pb2.ALERT_DESCRIPTION_DECRYPT_ERROR
    assert [s.number for s in report.steps[:10]] == list(range(1, 11))
    assert report.steps[-1].HasField("failure")


def test_watch_lab_failure_ends_with_the_failing_step(client_channel):
    options = csc.session_options("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", corrupt_client_finished=True)
    steps = []
    with pytest.raises(grpc.RpcError) as info:
        for event in csc.watch_handshake(client_channel, options):
            steps.append(event.step)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert dict(info.value.trailing_metadata())["tls-alert"] == "decrypt_error"
    assert steps[-1].HasField("failure")
    assert steps[-1].failure.step == 10 and steps[-1].failure.raised_by_server
    assert csc.rich_status(info.value).code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert csc.failure_report(info.value).failure == steps[-1].failure


def test_cli(client_addr, capsys):
    assert csc.main([client_addr, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "--watch"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 14
    assert out[0].split()[:3] == ["1", "Client", "Hello"]
    assert "reply 'echo: hello'" in out[-1]
    assert csc.main([client_addr, "--corrupt-client-finished"]) == 1
    captured = capsys.readouterr()
    assert "tls-alert decrypt_error" in captured.err
    assert "FAILED: decrypt_error" in captured.out
