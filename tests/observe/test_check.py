"""Negative tests of check.py: it must fail when a number is wrong."""
import unittest

import check


def good_trace():
    procs = {"p1": {"serviceName": "client-svc"}, "p2": {"serviceName": "server-svc"}}
    logs = [{"fields": [{"key": "step", "value": n}, {"key": "step_name", "value": name}]}
            for n, name in check.STEP_NAMES.items()]
    # server-svc never performs steps 5 and 6 (the client's own work).
    server_logs = [log for log in logs if log["fields"][0]["value"] not in (5, 6)]
    return {"processes": procs, "spans": [
        {"spanID": "a", "processID": "p1", "operationName": "session", "logs": logs, "references": []},
        {"spanID": "b", "processID": "p1", "operationName": "Connect", "logs": [],
         "references": [{"refType": "CHILD_OF", "spanID": "a"}]},
        {"spanID": "c", "processID": "p2", "operationName": "session", "logs": server_logs,
         "references": [{"refType": "CHILD_OF", "spanID": "b"}]},
    ]}


class Metrics(unittest.TestCase):
    def values(self, checks, **override):
        v = {q: (want if want is not None else 1.0) for _, q, want in checks}
        v.update(override)
        return v

    def test_right_counts_pass(self):
        checks = check.metric_checks(40, 5)
        self.assertEqual(check.compare(checks, self.values(checks)), [])

    def test_wrong_count_fails(self):
        checks = check.metric_checks(40, 5)
        q = checks[0][1]
        failures = check.compare(checks, self.values(checks, **{q: 39.0}))
        self.assertEqual(len(failures), 1)
        self.assertIn("got 39, want 40", failures[0])

    def test_missing_series_fails(self):
        checks = check.metric_checks(40, 5)
        q = checks[3][1]  # build info
        self.assertEqual(len(check.compare(checks, self.values(checks, **{q: None}))), 1)

    def test_in_flight_not_zero_fails(self):
        checks = check.metric_checks(40, 5)
        q = [q for d, q, _ in checks if "in flight" in d][0]
        self.assertEqual(len(check.compare(checks, self.values(checks, **{q: 1.0}))), 1)

    def test_ghz_ok_count(self):
        self.assertEqual(check.ghz_ok_count({"statusCodeDistribution": {"OK": 7, "Unavailable": 1}}), 7)
        self.assertEqual(check.ghz_ok_count({}), 0)


class Trace(unittest.TestCase):
    def test_good_trace_passes(self):
        self.assertEqual(check.trace_failures(good_trace()), [])

    def test_missing_step_fails(self):
        t = good_trace()
        t["spans"][2]["logs"] = t["spans"][2]["logs"][:-1]
        self.assertTrue(any("lacks step events [13]" in f for f in check.trace_failures(t)))

    def test_client_missing_a_client_only_step_fails(self):
        t = good_trace()
        t["spans"][0]["logs"] = [log for log in t["spans"][0]["logs"]
                                 if log["fields"][0]["value"] != 5]
        self.assertTrue(any("client-svc session span lacks step events [5]" in f
                            for f in check.trace_failures(t)))

    def test_missing_service_fails(self):
        t = good_trace()
        t["spans"] = t["spans"][:2]
        self.assertTrue(any("no span of server-svc" in f for f in check.trace_failures(t)))

    def test_not_descendant_fails(self):
        t = good_trace()
        t["spans"][2]["references"] = []
        self.assertTrue(any("not a descendant" in f for f in check.trace_failures(t)))

    def test_wrong_step_name_fails(self):
        t = good_trace()
        t["spans"][0]["logs"][0]["fields"][1]["value"] = "Hello"
        self.assertTrue(any("wrong step_name" in f for f in check.trace_failures(t)))


if __name__ == "__main__":
    unittest.main()
