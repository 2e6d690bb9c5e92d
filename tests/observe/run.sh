#!/usr/bin/env bash
# Watches real server-svc and client-svc processes with a real Prometheus
# (Debian's package) and a real Jaeger v2 (built from the Go module proxy),
# all on loopback ports picked here, and checks through their HTTP APIs:
#   - Prometheus: completed sessions == ghz's OK count, a lab failure under
#     alert decrypt_error and its step, sessions in flight back to 0, build info;
#   - Jaeger: one trace holding both services' session spans, server-svc's a
#     descendant of client-svc's, with the thirteen step events each;
#   - the Grafana dashboard's queries name metrics the services export.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"

N=${OBSERVE_N:-200}
M=${OBSERVE_LAB_N:-7}

echo "==> check.py's own negative tests"
(cd "$here" && python3 -m unittest -q test_check)

tools=$("$root/scripts/tools.sh" curl prometheus jaeger ghz grpcurl)
ghz="$tools/ghz" grpcurl="$tools/grpcurl" jaeger="$tools/jaeger"

(cd "$root" && cargo build -q --locked -p server-svc -p client-svc)
bin="$(cd "$root" && target_dir)/debug"

work=$(mktemp -d)
pids=()
failed=1
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$failed" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] || continue
      echo "---- $(basename "$log") (last 80 lines)" >&2
      tail -n 80 "$log" >&2
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url pid name
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "error: $3 did not answer $1" >&2
  return 1
}

echo "==> Jaeger (in memory)"
otlp=$(free_port) qhttp=$(free_port) qgrpc=$(free_port)
sed -e "s/@OTLP_GRPC@/$otlp/" -e "s/@QUERY_HTTP@/$qhttp/" -e "s/@QUERY_GRPC@/$qgrpc/" \
  "$here/jaeger.yaml.in" >"$work/jaeger.yaml"
# Jaeger's query service traces itself to localhost:4317 by default, and
# flushes for 10 s at shutdown when nothing answers there (neither
# OTEL_SDK_DISABLED nor OTEL_TRACES_EXPORTER=none stops it): point it at its
# own receiver, with a short timeout.
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp" OTEL_EXPORTER_OTLP_TIMEOUT=200 "$jaeger" --config "$work/jaeger.yaml" >"$work/jaeger.log" 2>&1 &
pids+=($!)
jaeger_url="http://127.0.0.1:$qhttp"
wait_http "$jaeger_url/api/services" $! jaeger

echo "==> server-svc and client-svc, metrics on, traces to Jaeger"
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp" OTEL_BSP_SCHEDULE_DELAY=200
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
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_BSP_SCHEDULE_DELAY

echo "==> Prometheus scraping both every second"
prom_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: handshake
    static_configs:
      - targets: ['$server_metrics', '$client_metrics']
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom_url="http://127.0.0.1:$prom_port"
wait_http "$prom_url/-/ready" $! prometheus

config="$root/tests/load/ghz/handshake-ecdhe-rsa-aes-128-gcm-sha256.json"
echo "==> ghz: $N Handshake calls through client-svc"
"$ghz" --config "$config" -n "$N" -c 4 --format json --output "$work/ghz.json" "$client_addr"
python3 "$root/tests/load/check_ghz.py" "$work/ghz.json" "$N"

echo "==> ghz: $M lab failures (corrupted client Finished)"
"$ghz" --config "$config" -n "$M" -c 1 --format json --output "$work/lab.json" \
  -d '{"options":{"lab":{"corruptClientFinished":true}}}' "$client_addr"
python3 "$root/tests/load/check_ghz.py" "$work/lab.json" "$M" --all-fail Unauthenticated

echo "==> Prometheus' view of the runs"
python3 "$here/check.py" metrics "$prom_url" "$work/ghz.json" "$M"

echo "==> one traced Handshake"
trace_id=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
span_id=$(python3 -c 'import secrets; print(secrets.token_hex(8))')
"$grpcurl" -plaintext -max-time 20 -H "traceparent: 00-$trace_id-$span_id-01" \
  -d '{"options":{"cipherSuites":["CIPHER_SUITE_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}}' \
  "$client_addr" handshake.v1.HandshakeClientService/Handshake >"$work/grpcurl.out"
python3 "$here/check.py" trace "$jaeger_url" "$trace_id"

echo "==> the Grafana dashboard against what the services export"
curl -fsS "http://$server_metrics/metrics" >"$work/server-svc.metrics"
curl -fsS "http://$client_metrics/metrics" >"$work/client-svc.metrics"
python3 "$root/scripts/dashboard_check.py" "$root/deploy/grafana/handshake.json" \
  "$work/server-svc.metrics" "$work/client-svc.metrics"

failed=0
echo "observe: Prometheus and Jaeger saw what ghz and grpcurl did"
