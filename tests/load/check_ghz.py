#!/usr/bin/env python3
"""Checks a ghz JSON report (`ghz --format json`): exactly COUNT calls, and
either all of them OK (the default) or, with --all-fail CODE, every one
ended with that gRPC status code. Prints one line; exits 1 on a mismatch."""
import argparse
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("report")
parser.add_argument("count", type=int)
parser.add_argument("--all-fail", metavar="CODE")
args = parser.parse_args()

with open(args.report) as f:
    report = json.load(f)
name = report.get("name") or args.report
count = report.get("count", 0)
codes = report.get("statusCodeDistribution") or {}
errors = report.get("errorDistribution") or {}
problems = []
if count != args.count:
    problems.append(f"{count} calls, want {args.count}")
want = args.all_fail or "OK"
if codes != {want: args.count}:
    problems.append(f"status codes {codes}, want {{{want!r}: {args.count}}}")
if args.all_fail is None and errors:
    problems.append(f"errors {errors}")
if problems:
    print(f"FAIL {name}: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
ms = lambda ns: ns / 1e6
print(
    f"ok   {name}: {count} calls, {want}, {report.get('rps', 0):.0f}/s, "
    f"average {ms(report.get('average', 0)):.1f} ms"
)
