"""Tests of scripts/dashboard_check.py (run by scripts/validate-deploy.sh:
`python -m unittest discover -s tests/deploy`). Standard library only."""

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "dashboard_check.py"
DASHBOARD = ROOT / "deploy" / "grafana" / "handshake.json"
SPEC = Path(__file__).resolve().parent / "obs-spec.openmetrics"

sys.path.insert(0, str(SCRIPT.parent))
import dashboard_check  # noqa: E402

SCRAPE = """\
# HELP handshake_sessions_ended Sessions ended.
# TYPE handshake_sessions_ended counter
handshake_sessions_ended_total{service="server-svc",suite="none",outcome="failed",alert="decrypt_error",step="10",step_name="Encrypted Handshake Message"} 3
handshake_sessions_ended_created{service="server-svc"} 1.7e9
# TYPE handshake_step_duration_seconds histogram
handshake_step_duration_seconds_bucket{service="server-svc",step="1",step_name="Client Hello",le="+Inf"} 2
handshake_step_duration_seconds_sum{service="server-svc",step="1",step_name="Client Hello"} 0.1
handshake_step_duration_seconds_count{service="server-svc",step="1",step_name="Client Hello"} 2
# TYPE handshake_sessions_in_flight gauge
handshake_sessions_in_flight{service="client-svc",transport="grpc"} 0
handshake_build_info{service="client-svc",version="0.1.0"} 1
# EOF
"""


def dashboard(*exprs, **panel_extra):
    """A dashboard with one timeseries panel per expr (None: a target without expr)."""
    panels = []
    for n, expr in enumerate(exprs):
        target = {"refId": "A"}
        if expr is not None:
            target["expr"] = expr
        panels.append({"type": "timeseries", "title": f"p{n}", "targets": [target],
                       **panel_extra})
    return {"schemaVersion": 39, "panels": panels}


class Cli(unittest.TestCase):
    """The command line, as tests/observe and validate-deploy.sh call it."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.scrape = self.dir / "scrape.txt"
        self.scrape.write_text(SCRAPE)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, content):
        path = self.dir / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def run_check(self, *args):
        return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                              capture_output=True, text=True)

    def test_good_dashboard_passes(self):
        d = self.write("d.json", dashboard(
            'sum by (service, alert, step) (rate(handshake_sessions_ended_total'
            '{outcome="failed"}[$__rate_interval]))',
            'histogram_quantile(0.99, sum by (le, step) '
            '(rate(handshake_step_duration_seconds_bucket[5m])))',
            "sum(handshake_sessions_in_flight)"))
        r = self.run_check(d, self.scrape)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_misspelled_metric_fails_with_one_line(self):
        d = self.write("d.json", dashboard(
            "sum(rate(handshake_sesions_ended_total[5m]))",
            "sum(handshake_sessions_in_flight)"))
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertIn("handshake_sesions_ended_total is not a series", lines[0])
        self.assertIn("'p0'", lines[0])

    def test_histogram_family_name_is_not_a_series(self):
        d = self.write("d.json", dashboard(
            "histogram_quantile(0.5, rate(handshake_step_duration_seconds[5m]))"))
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("handshake_step_duration_seconds is not a series", r.stdout)
        self.assertIn("handshake_step_duration_seconds_bucket", r.stdout)  # the hint

    def test_not_json_fails(self):
        d = self.write("d.json", '{"panels": [')
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not valid JSON", r.stdout)
        self.assertEqual(len(r.stdout.splitlines()), 1)

    def test_not_a_dashboard_object_fails(self):
        r = self.run_check(self.write("d.json", "[1, 2]"), self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a dashboard", r.stdout)

    def test_panel_without_expr_fails(self):
        d = self.write("d.json", dashboard("sum(handshake_sessions_in_flight)", None))
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("panel 'p1' target A: no expr", r.stdout)

    def test_panel_without_targets_fails(self):
        d = self.write("d.json", {"panels": [{"type": "stat", "title": "empty"}]})
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("panel 'empty': no targets", r.stdout)

    def test_panels_inside_collapsed_rows_are_checked(self):
        d = self.write("d.json", {"panels": [
            {"type": "row", "title": "r", "collapsed": True,
             "panels": dashboard("nope_total")["panels"]}]})
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope_total is not a series", r.stdout)

    def test_query_variable_is_checked(self):
        d = dashboard("sum(handshake_sessions_in_flight)")
        d["templating"] = {"list": [
            {"type": "datasource", "name": "DS_PROMETHEUS", "query": "prometheus"},
            {"type": "query", "name": "service",
             "query": {"query": "label_values(handshake_bild_info, service)"}},
            {"type": "query", "name": "label_only", "query": "label_values(service)"}]}
        r = self.run_check(self.write("d.json", d), self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
        self.assertIn("variable 'service'", r.stdout)
        self.assertIn("handshake_bild_info", r.stdout)

    def test_unknown_function_fails(self):
        d = self.write("d.json", dashboard("sum(rte(handshake_sessions_ended_total[5m]))"))
        r = self.run_check(d, self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown function rte()", r.stdout)

    def test_no_metrics_mode_checks_structure_only(self):
        good = self.write("good.json", dashboard("not_in_any_scrape_total"))
        self.assertEqual(self.run_check("--no-metrics", good).returncode, 0)
        bad = self.write("bad.json", dashboard(None))
        r = self.run_check("--no-metrics", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no expr", r.stdout)
        self.assertEqual(self.run_check("--no-metrics", self.write("x.json", "nope")).returncode, 1)

    def test_usage_and_missing_files_exit_2(self):
        d = self.write("d.json", dashboard("up"))
        self.assertEqual(self.run_check(d).returncode, 2)  # no scrape file, no --no-metrics
        self.assertEqual(self.run_check(d, self.dir / "missing.txt").returncode, 2)
        self.assertEqual(self.run_check(d, self.write("empty.txt", "# EOF\n")).returncode, 2)

    def test_missing_dashboard_fails(self):
        r = self.run_check(self.dir / "missing.json", self.scrape)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read", r.stdout)

    def test_several_scrape_files_are_one_set(self):
        other = self.write("other.txt", 'handshake_tls_front_connections_open{service="server-svc"} 0\n')
        d = self.write("d.json", dashboard(
            "handshake_tls_front_connections_open + on () group_left sum(handshake_sessions_in_flight)"))
        self.assertEqual(self.run_check(d, self.scrape).returncode, 1)
        r = self.run_check(d, self.scrape, other)
        self.assertEqual((r.returncode, r.stdout), (0, ""))


class MetricNames(unittest.TestCase):
    """What counts as a metric name in an expr."""

    def names(self, expr):
        names, problems = dashboard_check.metric_names(expr)
        self.assertEqual(problems, [], expr)
        return names

    def test_labels_values_functions_and_durations_are_not_names(self):
        self.assertEqual(self.names(
            'histogram_quantile(0.99, sum by (service, step, le) (rate('
            'x_bucket{service=~"server-svc|client-svc", step_name="Client Hello"}[$__rate_interval])))'),
            {"x_bucket"})
        self.assertEqual(self.names("sum(rate(a_total[5m] offset 1h30m)) without (instance, pod)"),
                         {"a_total"})
        self.assertEqual(self.names("max_over_time(a[1h:5m]) @ end()"), {"a"})

    def test_binary_operators_and_matching(self):
        self.assertEqual(self.names(
            "a_total / ignoring (outcome) group_left b_total > bool 0 and on (service) c_info"),
            {"a_total", "b_total", "c_info"})
        self.assertEqual(self.names("a unless b or c"), {"a", "b", "c"})

    def test_strings_comments_and_grafana_variables(self):
        self.assertEqual(self.names(
            'label_replace(a, "dst", "$1 by (x) rate(y)", "src", "(.*)") # b_total\n'
            '+ on() count_values("version", c_info)'), {"a", "c_info"})
        self.assertEqual(self.names("rate(a[${interval}]) * ${factor}"), {"a"})

    def test_aggregations_are_case_insensitive_functions_are_not(self):
        self.assertEqual(self.names("SUM BY (x) (a)"), {"a"})
        _, problems = dashboard_check.metric_names("RATE(a[5m])")
        self.assertEqual(problems, ["unknown function RATE()"])

    def test_name_matcher_counts(self):
        self.assertEqual(self.names('{__name__="handshake_build_info", service="x"}'),
                         {"handshake_build_info"})

    def test_unbalanced_brackets(self):
        _, problems = dashboard_check.metric_names("sum(rate(a[5m])")
        self.assertEqual(problems, ["unbalanced ()"])

    def test_an_expr_without_a_metric_is_a_problem(self):
        d = {"panels": dashboard("vector(1)")["panels"]}
        problems = dashboard_check.Problems()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(d, f)
        try:
            dashboard_check.check(f.name, {"a"}, problems)
        finally:
            Path(f.name).unlink()
        self.assertEqual(len(problems.lines), 1)
        self.assertIn("names no metric", problems.lines[0])


class TheDashboard(unittest.TestCase):
    """deploy/grafana/handshake.json against a sample of the services' series (the live check
    against real scrapes is tests/observe's)."""

    def test_passes_against_the_spec(self):
        r = subprocess.run([sys.executable, str(SCRIPT), str(DASHBOARD), str(SPEC)],
                           capture_output=True, text=True)
        self.assertEqual((r.returncode, r.stdout), (0, ""), r.stderr)

    def test_uses_the_datasource_variable_and_splits_by_service(self):
        d = json.loads(DASHBOARD.read_text())
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual(variables["DS_PROMETHEUS"]["type"], "datasource")
        queried = [p for p in dashboard_check.panels_of(d) if p.get("type") != "row"]
        self.assertGreaterEqual(len(queried), 10)
        for p in queried:
            self.assertEqual(p["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
        exprs = " ".join(t["expr"] for p in queried for t in p["targets"])
        for family in ("handshake_sessions_ended_total", "handshake_step_duration_seconds_bucket",
                       "handshake_sessions_in_flight", "handshake_limits_hit_total",
                       "handshake_tls_front_connections_total",
                       "handshake_server_replica_sessions_total"):
            self.assertIn(family, exprs)
        self.assertIn("by (service, suite)", exprs)
        self.assertIn("by (service, alert, step, step_name)", exprs)

    def test_every_spec_series_is_one_the_services_have(self):
        # The fixture is hand-written from service-runtime/src/metrics.rs: a guard against it
        # drifting into names the services do not have.
        names = dashboard_check.read_series(SPEC)
        self.assertIn("handshake_step_duration_seconds_bucket", names)
        self.assertNotIn("handshake_step_duration_seconds", names)
        self.assertTrue(all(n.startswith("handshake_") for n in names), names)


if __name__ == "__main__":
    unittest.main()
