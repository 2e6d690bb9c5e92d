"""A small client of client-svc (handshake.v1.HandshakeClientService).

    python client_svc_client.py HOST:PORT [SUITE] [--watch] [--message TEXT]
                                          [--corrupt-client-finished]

Runs one TLS 1.2 session through client-svc and prints its steps (number,
name, direction, duration): with Handshake, from the report once the session
is done; with --watch (WatchHandshake), each step as it happens. SUITE is an
IANA name such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; none: client-svc
offers every suite. A failed session prints its gRPC status, tls-alert and
tls-step, and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.join(_HERE, "gen") not in sys.path:
    sys.path.insert(0, os.path.join(_HERE, "gen"))

import grpc  # noqa: E402
from google.rpc import status_pb2  # noqa: E402  (googleapis-common-protos)

from handshake.v1 import service_pb2, service_pb2_grpc, tls_pb2  # noqa: E402

SUITES = [n.removeprefix("CIPHER_SUITE_") for n in tls_pb2.CipherSuite.keys()
          if n.startswith("CIPHER_SUITE_TLS_") and not n.endswith("_SCSV")]


def session_options(suite: str | None = None, message: str = "", corrupt_client_finished: bool = False,
                    server: str = "", server_name: str = "") -> service_pb2.SessionOptions:
    """SessionOptions for one session; a suite is named "TLS_..." as IANA does."""
    suites = [tls_pb2.CipherSuite.Value("CIPHER_SUITE_" + suite)] if suite else []
    return service_pb2.SessionOptions(
        server=server, server_name=server_name, cipher_suites=suites, application_message=message,
        lab=service_pb2.LabOptions(corrupt_client_finished=corrupt_client_finished))


def handshake(channel: grpc.Channel, options: service_pb2.SessionOptions,
              timeout: float = 30) -> service_pb2.HandshakeReport:
    """Handshake: the whole session's report (raises grpc.RpcError on failure)."""
    stub = service_pb2_grpc.HandshakeClientServiceStub(channel)
    return stub.Handshake(service_pb2.HandshakeRequest(options=options), timeout=timeout).report


def watch_handshake(channel: grpc.Channel, options: service_pb2.SessionOptions, timeout: float = 30):
    """WatchHandshake: yields each WatchHandshakeResponse (steps, then the report)."""
    stub = service_pb2_grpc.HandshakeClientServiceStub(channel)
    yield from stub.WatchHandshake(service_pb2.WatchHandshakeRequest(options=options), timeout=timeout)


def direction(step: service_pb2.HandshakeStep) -> str:
    return service_pb2.Direction.Name(step.direction).removeprefix("DIRECTION_").lower()


def format_step(step: service_pb2.HandshakeStep) -> str:
    line = f"{step.number:2d}  {step.name:<30} {direction(step):<8} {step.duration_micros:>8} us"
    if step.HasField("failure"):
        alert = tls_pb2.AlertDescription.Name(step.failure.alert).removeprefix("ALERT_DESCRIPTION_").lower()
        line += f"  FAILED: {alert}: {step.failure.reason}"
    return line


def rich_status(e: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status in a failed call's status details (the
    grpc-status-details-bin trailer), as client-svc sends on a failed
    session: the call's own code and message, the report in `details`."""
    raw = dict(e.trailing_metadata() or ()).get("grpc-status-details-bin")
    return status_pb2.Status.FromString(raw) if raw else None


def failure_report(e: grpc.RpcError) -> service_pb2.HandshakeReport | None:
    """The report so far of a failed session: the HandshakeReport packed in
    an Any in the google.rpc.Status of the status details."""
    status = rich_status(e)
    for detail in status.details if status else ():
        report = service_pb2.HandshakeReport()
        if detail.Unpack(report):
            return report
    return None


def format_status(e: grpc.RpcError) -> str:
    md = dict(e.trailing_metadata() or ())
    return (f"{e.code().name}: {e.details()} "
            f"(tls-alert {md.get('tls-alert', '-')}, tls-step {md.get('tls-step', '-')})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("address", help="client-svc's host:port")
    ap.add_argument("suite", nargs="?", choices=SUITES, help="offer only this suite")
    ap.add_argument("--watch", action="store_true", help="WatchHandshake: steps as they happen")
    ap.add_argument("--message", default="", help='application message (client-svc default: "hello")')
    ap.add_argument("--corrupt-client-finished", action="store_true",
                    help="lab fault: the server answers decrypt_error at step 10")
    args = ap.parse_args(argv)
    options = session_options(args.suite, args.message, args.corrupt_client_finished)
    with grpc.insecure_channel(args.address) as channel:
        try:
            if args.watch:
                report = None
                for event in watch_handshake(channel, options):
                    if event.WhichOneof("event") == "step":
                        print(format_step(event.step), flush=True)
                    else:
                        report = event.report
            else:
                report = handshake(channel, options)
                for step in report.steps:
                    print(format_step(step))
        except grpc.RpcError as e:
            report = failure_report(e)
            if report is not None and not args.watch:
                for step in report.steps:
                    print(format_step(step))
            print(f"failed: {format_status(e)}", file=sys.stderr)
            return 1
    suite = tls_pb2.CipherSuite.Name(report.negotiated.cipher_suite).removeprefix("CIPHER_SUITE_")
    print(f"{suite}: reply {report.reply!r} in {report.total_micros} us (session {report.session_id})")
    return 0 if report.success else 1


if __name__ == "__main__":
    sys.exit(main())
