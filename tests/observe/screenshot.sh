#!/usr/bin/env bash
# Takes docs/img/prometheus-ghz.png: Prometheus' graph page of the session
# rate by suite while ghz loads client-svc, in a real headless chromium
# (Debian's package) driven by Playwright (pinned in package-lock.json).
# Not part of scripts/test.sh: a picture for the README, not a check.
#   tests/observe/screenshot.sh          services + ghz (needs the metrics)
#   tests/observe/screenshot.sh --self   Prometheus graphing its own scrapes
#                                        (checks the browser setup only)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"
mode=${1:-services}
out=${SCREENSHOT_OUT:-$root/docs/img/prometheus-ghz.png}
DURATION=${SCREENSHOT_LOAD_S:-90}

tools=$("$root/scripts/tools.sh" curl prometheus chromium ghz)
(cd "$here" && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

prom_port=$(free_port)
if [ "$mode" = --self ]; then
  targets="'127.0.0.1:$prom_port'"
  query='sum by (handler) (rate(prometheus_http_requests_total[15s]))'
else
  (cd "$root" && cargo build -q --locked -p server-svc -p client-svc)
  bin="$(cd "$root" && target_dir)/debug"
  (cd "$work" && exec "$bin/server-svc" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0) \
    >"$work/server-svc.log" 2>&1 &
  pids+=($!)
  server_addr=$(bound_addr "$work/server-svc.log" listen $!)
  server_metrics=$(bound_addr "$work/server-svc.log" metrics_listen $!)
  (cd "$work" && exec "$bin/client-svc" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --server "http://$server_addr" --ca "$work/pki/ca.pem") >"$work/client-svc.log" 2>&1 &
  pids+=($!)
  client_addr=$(bound_addr "$work/client-svc.log" listen $!)
  client_metrics=$(bound_addr "$work/client-svc.log" metrics_listen $!)
  targets="'$server_metrics', '$client_metrics'"
  query='sum by (service, suite) (rate(handshake_sessions_ended_total{outcome="completed"}[15s]))'
fi

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: handshake
    static_configs:
      - targets: [$targets]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom_url="http://127.0.0.1:$prom_port"
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$prom_url/-/ready" 2>/dev/null && break; sleep 0.1; done

if [ "$mode" = --self ]; then
  sleep 20
else
  # Two suites, one after the other, so the graph shows more than one line.
  for config in "$root"/tests/load/ghz/handshake-ecdhe-rsa-aes-128-gcm-sha256.json \
    "$root"/tests/load/ghz/handshake-rsa-aes-256-gcm-sha384.json; do
    [ -f "$config" ] || continue
    "$tools/ghz" --config "$config" -z "$((DURATION / 2))s" -c 4 "$client_addr" >/dev/null
  done
fi

mkdir -p "$(dirname "$out")"
(cd "$here" && timeout 120 node shot.js "$prom_url" "$query" "$out")
echo "saved $out"
