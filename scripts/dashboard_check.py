"""Checks a Grafana dashboard's queries against what the services export:

    dashboard_check.py DASHBOARD.json METRICS_FILE...
    dashboard_check.py --no-metrics DASHBOARD.json

Exits 0 if DASHBOARD.json is valid JSON, every panel that queries has
targets, every target has a PromQL `expr`, and every metric name in every
expr is a series name (a sample name: `x_total`, `x_bucket`, `x_sum`, ...) of
at least one METRICS_FILE, a /metrics scrape (OpenMetrics or Prometheus
text). Otherwise prints one line per problem and exits 1; a usage or file
error exits 2. `--no-metrics` checks all but the names (scripts/validate-
deploy.sh has no scrape; tests/observe runs the full check on real ones).

The query variables of `templating` are checked too (`label_values(METRIC,
label)`, `query_result(EXPR)` or plain PromQL).

Metric names are found without a full PromQL parser, which no package here
provides: strings, Grafana variables, `{...}` matchers, `[...]` ranges,
`by`/`without`/`on`/`ignoring`/`group_*` label lists, `offset` durations and
numbers are removed first; of the identifiers left, those followed by `(`
must be PromQL functions or aggregations, keywords are skipped, and every
other one is a metric name. A name given as `{__name__="..."}` counts too.
"""

import json
import re
import sys
from pathlib import Path

# PromQL's functions (prometheus/promql/parser/functions.go, 3.x, including
# the experimental ones) and aggregation operators. `start` and `end` are the
# @ modifier's.
FUNCTIONS = frozenset("""
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil
changes clamp clamp_max clamp_min cos cosh count_over_time day_of_month
day_of_week day_of_year days_in_month deg delta deriv double_exponential_smoothing
exp floor histogram_avg histogram_count histogram_fraction histogram_quantile
histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase
info irate label_join label_replace last_over_time ln log10 log2
mad_over_time max_over_time min_over_time minute month pi predict_linear
present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh
sort sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time
stdvar_over_time sum_over_time tan tanh time timestamp ts_of_max_over_time
ts_of_min_over_time ts_of_last_over_time vector year start end
""".split())
AGGREGATIONS = frozenset("""
avg bottomk count count_values group limit_ratio limitk max min quantile stddev
stdvar sum topk
""".split())
# Words of the language that are not metric names where they stand alone.
KEYWORDS = frozenset("""
and or unless bool offset by without on ignoring group_left group_right inf nan
""".split())
# Label lists: `by (a, b)`, `sum without (a)`, `on (a)`, `group_left (a)`.
LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)",
                        re.IGNORECASE)
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# Grafana's variables: $__rate_interval, ${DS_PROMETHEUS}, ${x:csv}, [[x]].
VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]")
NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]*)"')
TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*|\S")
# What a scrape's sample line starts with.
SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?=[{\s])")

USAGE = """usage: dashboard_check.py DASHBOARD.json METRICS_FILE...
       dashboard_check.py --no-metrics DASHBOARD.json"""

# Bounds: a dashboard or scrape bigger than this is not one of ours.
MAX_FILE_BYTES = 16 << 20
MAX_EXPR_CHARS = 10_000


class Problems:
    def __init__(self):
        self.lines = []

    def add(self, line):
        self.lines.append(line)


def metric_names(expr):
    """The metric names an expr queries, and the problems found on the way
    (unbalanced brackets, unknown functions)."""
    problems = []
    # __name__ matchers name a metric inside what is stripped below.
    names = set(NAME_MATCHER.findall(expr))
    text = STRING.sub('""', expr)
    # A comment runs to the end of its line (strings, which may hold #, are gone).
    text = re.sub(r"#[^\n]*", " ", text)
    text = VARIABLE.sub(" ", text)
    for open_, close in ("()", "[]", "{}"):
        if text.count(open_) != text.count(close):
            problems.append(f"unbalanced {open_}{close}")
    if problems:
        return names, problems
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = LABEL_LIST.sub(" ", text)
    # `offset 5m`, `offset -1h30m`: the duration is not a name.
    text = re.sub(r"\boffset\s+-?[0-9a-zA-Z]*", " ", text, flags=re.IGNORECASE)
    # A bare group_left/group_right (no label list) stays a keyword below.
    tokens = TOKEN.findall(text)
    for i, token in enumerate(tokens):
        if not (token[0].isalpha() or token[0] in "_:"):
            continue
        # `sum by (x) (...)` is `sum (...)` once the label list is gone.
        called = i + 1 < len(tokens) and tokens[i + 1] == "("
        lower = token.lower()
        if called:
            # Functions are case-sensitive in PromQL, aggregations are not.
            if token not in FUNCTIONS and lower not in AGGREGATIONS:
                problems.append(f"unknown function {token}()")
        elif lower not in KEYWORDS:
            names.add(token)
    return names, problems


def read_series(path):
    """The sample names of a /metrics scrape."""
    names = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = SAMPLE.match(line)
        if m:
            names.add(m.group(1))
    return names


def panels_of(container):
    """Every panel, rows' panels and old-style `rows` included."""
    for panel in container.get("panels", []) or []:
        if isinstance(panel, dict):
            yield panel
            yield from panels_of(panel)
    for row in container.get("rows", []) or []:
        if isinstance(row, dict):
            yield from panels_of(row)


# Panel types that hold no query.
NO_QUERY = {"row", "text", "news", "dashlist", "annolist", "welcome"}


def variable_exprs(dashboard):
    """(where, expr) of the query variables."""
    for var in (dashboard.get("templating") or {}).get("list", []) or []:
        if not isinstance(var, dict) or var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        where = f"variable {var.get('name')!r}"
        if not isinstance(query, str) or not query.strip():
            yield where, None
            continue
        query = query.strip()
        m = re.fullmatch(r"label_values\((.*)\)", query, re.DOTALL)
        if m:
            # label_values(label) names no metric; label_values(SELECTOR,
            # label) does: split at the last comma outside strings and {}.
            inner = STRING.sub(lambda s: "_" * len(s.group(0)), m.group(1))
            inner = re.sub(r"\{[^{}]*\}", lambda s: "_" * len(s.group(0)), inner)
            comma = inner.rfind(",")
            yield where, m.group(1)[:comma] if comma >= 0 else ""
            continue
        m = re.fullmatch(r"query_result\((.*)\)", query, re.DOTALL)
        if m:
            yield where, m.group(1)
            continue
        if re.fullmatch(r"label_names\(.*\)|metrics\(.*\)", query, re.DOTALL):
            continue
        yield where, query


def check(dashboard_path, series, problems):
    """Checks one dashboard; series is None for --no-metrics."""
    name = str(dashboard_path)
    try:
        raw = Path(dashboard_path).read_bytes()
    except OSError as e:
        problems.add(f"{name}: cannot read: {e.strerror}")
        return
    if len(raw) > MAX_FILE_BYTES:
        problems.add(f"{name}: larger than {MAX_FILE_BYTES} bytes")
        return
    try:
        dashboard = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        problems.add(f"{name}: not valid JSON: {e}")
        return
    if not isinstance(dashboard, dict):
        problems.add(f"{name}: not a dashboard (the top level is not an object)")
        return
    # An import-format dashboard wraps it: {"dashboard": {...}}.
    if "panels" not in dashboard and isinstance(dashboard.get("dashboard"), dict):
        dashboard = dashboard["dashboard"]
    queries = []
    panels = list(panels_of(dashboard))
    if not panels:
        problems.add(f"{name}: no panels")
    for panel in panels:
        title = panel.get("title") or f"id {panel.get('id')}"
        where = f"{name}: panel {title!r}"
        if panel.get("type") in NO_QUERY:
            continue
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.add(f"{where}: no targets (no query)")
            continue
        for n, target in enumerate(targets):
            ref = target.get("refId", n) if isinstance(target, dict) else n
            expr = target.get("expr") if isinstance(target, dict) else None
            if not isinstance(expr, str) or not expr.strip():
                problems.add(f"{where} target {ref}: no expr")
            else:
                queries.append((f"{where} target {ref}", expr))
    for where, expr in variable_exprs(dashboard):
        if expr is None:
            problems.add(f"{name}: {where}: no query")
        elif expr:
            queries.append((f"{name}: {where}", expr))
    for where, expr in queries:
        if len(expr) > MAX_EXPR_CHARS:
            problems.add(f"{where}: expr longer than {MAX_EXPR_CHARS} characters")
            continue
        names, found = metric_names(expr)
        for p in found:
            problems.add(f"{where}: {p} in {expr!r}")
        if not names and not found:
            problems.add(f"{where}: names no metric: {expr!r}")
        if series is None:
            continue
        for metric in sorted(names - series):
            hint = ""
            if any(s.startswith(metric + "_") for s in series):
                hint = " (a family name? the series are " + ", ".join(
                    sorted(s for s in series if s.startswith(metric + "_"))[:4]) + ")"
            problems.add(f"{where}: {metric} is not a series of any scrape{hint}")


def main(argv):
    args = argv[1:]
    no_metrics = "--no-metrics" in args
    args = [a for a in args if a != "--no-metrics"]
    if not args or (not no_metrics and len(args) < 2) or (no_metrics and len(args) != 1):
        print(USAGE, file=sys.stderr)
        return 2
    series = None
    if not no_metrics:
        series = set()
        for path in args[1:]:
            try:
                series |= read_series(path)
            except (OSError, ValueError) as e:
                print(f"error: {path}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
                return 2
        if not series:
            print(f"error: no samples in {', '.join(args[1:])}", file=sys.stderr)
            return 2
    problems = Problems()
    check(args[0], series, problems)
    for line in problems.lines:
        print(f"error: {line}")
    return 1 if problems.lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
