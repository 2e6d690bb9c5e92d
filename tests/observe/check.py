#!/usr/bin/env python3
"""Reads the services' metrics back through a real Prometheus and one trace
through a real Jaeger, and fails with one clear line when a number is wrong.

  check.py metrics PROM_URL GHZ_JSON LAB_FAILURES
  check.py trace JAEGER_URL TRACE_ID

Standard library only. `python3 -m unittest check` runs its negative tests.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

SERVICES = ("client-svc", "server-svc")
# The steps each side never performs: 5 (Client verification) and 6 (Gen
# pre-master) are the client's own work, so server-svc's span has eleven
# step events and client-svc's thirteen; the trace holds all thirteen.
LOCAL_TO_OTHER = {"client-svc": set(), "server-svc": {5, 6}}
# Where each side records the lab's corrupted client Finished (step 10,
# README's table): server-svc fails decrypting it at step 10; client-svc's
# report names the step server-svc's alert arrived in (also 10).
LAB_STEP = {"server-svc": "10", "client-svc": "10"}
STEP_NAMES = {
    1: "Client Hello", 2: "Server Hello", 3: "Server Certificate",
    4: "Server Hello Done", 5: "Client Verification", 6: "Gen pre-master",
    7: "Client Key Exchange", 8: "Gen secret key", 9: "Change Cipher Spec",
    10: "Encrypted Handshake Message", 11: "Change Cipher Spec",
    12: "Encrypted Handshake Message", 13: "Finish",
}
TIMEOUT_S = int(__import__("os").environ.get("CHECK_TIMEOUT_S", "60"))


class CheckError(Exception):
    pass


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def prom_query(base, promql):
    """-> float sum of the result vector, or None when it is empty."""
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    body = get_json(url)
    if body.get("status") != "success":
        raise CheckError(f"prometheus: query {promql!r} failed: {body}")
    result = body["data"]["result"]
    if not result:
        return None
    return sum(float(s["value"][1]) for s in result)


def ghz_ok_count(report):
    """ghz's JSON report -> the number of calls that returned OK."""
    dist = report.get("statusCodeDistribution") or {}
    return int(dist.get("OK", 0))


def metric_checks(ok, lab_failures):
    """-> [(description, promql, expected value)]; None = must be present."""
    checks = []
    for svc in SERVICES:
        checks.append((f"{svc} completed sessions == ghz OK count",
                       f'sum(handshake_sessions_ended_total{{service="{svc}",outcome="completed"}})', ok))
        checks.append((f"{svc} decrypt_error at step {LAB_STEP[svc]} == lab failures",
                       f'sum(handshake_sessions_ended_total{{service="{svc}",outcome="failed",'
                       f'alert="decrypt_error",step="{LAB_STEP[svc]}"}})', lab_failures))
        checks.append((f"{svc} sessions in flight == 0",
                       f'sum(handshake_sessions_in_flight{{service="{svc}"}})', 0))
        checks.append((f"{svc} build info present",
                       f'sum(handshake_build_info{{service="{svc}"}})', None))
    return checks


def compare(checks, values):
    """values: {promql: float|None} -> list of failure lines."""
    failures = []
    for desc, q, want in checks:
        got = values.get(q)
        if got is None:
            failures.append(f"FAIL {desc}: no series for {q}")
        elif want is not None and got != want:
            failures.append(f"FAIL {desc}: got {got:g}, want {want:g} ({q})")
    return failures


def check_metrics(base, ghz_json, lab_failures):
    with open(ghz_json) as f:
        ok = ghz_ok_count(json.load(f))
    if ok == 0:
        raise CheckError(f"ghz: report {ghz_json} shows no OK call")
    checks = metric_checks(ok, lab_failures)
    # Wait until two successive scrapes give the same values (scrape 1s).
    deadline = time.monotonic() + TIMEOUT_S
    prev, stable = None, 0
    while True:
        values = {q: prom_query(base, q) for _, q, _ in checks}
        stable = stable + 1 if values == prev else 0
        prev = values
        if stable >= 2 and all(v is not None for v in values.values()):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(1.1)
    failures = compare(checks, values)
    if failures:
        raise CheckError("\n".join(failures))
    print(f"prometheus: {len(checks)} checks passed (ghz OK={ok}, lab failures={lab_failures})")


def trace_failures(trace):
    """A Jaeger /api/traces trace object -> list of failure lines."""
    failures = []
    procs = {pid: p.get("serviceName") for pid, p in trace.get("processes", {}).items()}
    spans = trace.get("spans", [])
    by_id = {s["spanID"]: s for s in spans}
    svc_of = {s["spanID"]: procs.get(s["processID"]) for s in spans}
    for svc in SERVICES:
        if svc not in svc_of.values():
            failures.append(f"FAIL trace: no span of {svc} (services: {sorted(set(svc_of.values()))})")
    sessions = {}
    for s in spans:
        if s.get("operationName") == "session":
            sessions.setdefault(svc_of[s["spanID"]], s)
    for svc in SERVICES:
        span = sessions.get(svc)
        if span is None:
            failures.append(f"FAIL trace: no `session` span of {svc}")
            continue
        steps = {}
        for log in span.get("logs", []):
            fields = {f["key"]: f.get("value") for f in log.get("fields", [])}
            if "step" in fields:
                try:
                    steps[int(fields["step"])] = fields.get("step_name")
                except (TypeError, ValueError):
                    pass
        missing = sorted(set(STEP_NAMES) - LOCAL_TO_OTHER[svc] - set(steps))
        if missing:
            failures.append(f"FAIL trace: {svc} session span lacks step events {missing}")
        wrong = [n for n, name in steps.items() if n in STEP_NAMES and name != STEP_NAMES[n]]
        if wrong:
            failures.append(f"FAIL trace: {svc} step events with wrong step_name at steps {sorted(wrong)}")

    def parent(s):
        for r in s.get("references", []):
            if r.get("refType") == "CHILD_OF":
                return by_id.get(r.get("spanID"))
        return None

    c, sv = sessions.get("client-svc"), sessions.get("server-svc")
    if c and sv:
        p, hops = parent(sv), 0
        while p is not None and p["spanID"] != c["spanID"] and hops < 64:
            p, hops = parent(p), hops + 1
        if p is None or p["spanID"] != c["spanID"]:
            failures.append("FAIL trace: server-svc's session span is not a descendant of client-svc's")
    return failures


def check_trace(base, trace_id):
    deadline = time.monotonic() + TIMEOUT_S
    failures = ["FAIL trace: never fetched"]
    while time.monotonic() < deadline:
        try:
            body = get_json(f"{base}/api/traces/{trace_id}")
            data = body.get("data") or []
            failures = trace_failures(data[0]) if data else [f"FAIL trace: {trace_id} not found in Jaeger"]
        except OSError as e:  # 404 until the trace arrives
            failures = [f"FAIL trace: {trace_id}: {e}"]
        if not failures:
            print(f"jaeger: trace {trace_id} holds both services' session spans with their step events (client-svc 13, server-svc 11)")
            return
        time.sleep(1)
    raise CheckError("\n".join(failures))


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "metrics":
            check_metrics(argv[2], argv[3], int(argv[4]))
        elif len(argv) == 4 and argv[1] == "trace":
            check_trace(argv[2], argv[3])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except CheckError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
