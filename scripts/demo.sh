#!/usr/bin/env bash
# The main job: builds server-svc and client-svc, starts them on the
# embedded lab PKI (./pki, made on first start), and runs, through
# client-svc's gRPC API (with grpcurl), one complete TLS 1.2 handshake for
# every suite, printing each session's thirteen steps. Stops both services
# at the end. Ports: server-svc 50051, client-svc 50052 (override with
# SERVER_PORT / CLIENT_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER_PORT=${SERVER_PORT:-50051}
CLIENT_PORT=${CLIENT_PORT:-50052}
# shellcheck source=lib.sh
source scripts/lib.sh

tools=$(./scripts/tools.sh grpcurl)
grpcurl="$tools/grpcurl"
echo "==> building server-svc and client-svc"
cargo build -q --locked -p server-svc -p client-svc
bin="$(target_dir)/debug"

mkdir -p .demo
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "==> starting server-svc on :$SERVER_PORT (lab PKI in ./pki)"
SERVER_SVC_LISTEN=127.0.0.1:$SERVER_PORT "$bin/server-svc" 2>.demo/server-svc.log &
pids+=($!)
wait_health() { # port service
  for _ in $(seq 1 100); do
    if "$grpcurl" -plaintext -d "{\"service\":\"$2\"}" "127.0.0.1:$1" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING; then
      return 0
    fi
    sleep 0.2
  done
  echo "error: $2 on port $1 did not become healthy; its log:" >&2
  cat .demo/*.log >&2
  exit 1
}
wait_health "$SERVER_PORT" handshake.v1.HandshakeService

echo "==> starting client-svc on :$CLIENT_PORT (trusting ./pki/ca.pem)"
CLIENT_SVC_LISTEN=127.0.0.1:$CLIENT_PORT CLIENT_SVC_SERVER=http://127.0.0.1:$SERVER_PORT \
  "$bin/client-svc" serve 2>.demo/client-svc.log &
pids+=($!)
wait_health "$CLIENT_PORT" handshake.v1.HandshakeClientService

failed=0
for suite in "${ALL_SUITES[@]}"; do
  echo
  echo "==> $suite"
  request="{\"options\":{\"cipherSuites\":[\"CIPHER_SUITE_$suite\"],\"applicationMessage\":\"hello from the demo\"}}"
  if ! "$grpcurl" -plaintext -d "$request" "127.0.0.1:$CLIENT_PORT" \
      handshake.v1.HandshakeClientService/Handshake >.demo/report.json 2>.demo/error.txt; then
    cat .demo/error.txt >&2
    failed=1
    continue
  fi
  python3 - .demo/report.json <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))["report"]
for s in report["steps"]:
    first = (s.get("fields") or [{}])[0]
    value = first.get("value", "")
    value = value if len(value) <= 56 else value[:55] + "…"
    direction = s["direction"].removeprefix("DIRECTION_").lower()
    ms = int(s.get("durationMicros", 0)) / 1000
    print(f'{s["number"]:>4}. {s["name"]:<28} {direction:<8} {ms:6.2f} ms  {first.get("name", "")}: {value}')
print(f'      reply {report.get("reply", "")!r}, {int(report.get("totalMicros", 0)) / 1000:.1f} ms in all')
PY
done
echo
if [ "$failed" -ne 0 ]; then
  echo "error: some handshakes failed" >&2
  exit 1
fi
echo "every suite completed"
