#!/usr/bin/env bash
# A short ghz load against real server-svc and client-svc processes on
# loopback, with every config in tests/load/ghz/: first through server
# reflection (no proto files), then the handshake calls again with --proto.
# Each run is bounded (-n) and its JSON report must show exactly that many
# calls, all OK. A lab failure run checks that the checker sees errors.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ghz="$("$root/scripts/tools.sh" ghz)/ghz"
# shellcheck source=../interop/services.sh
source "$root/tests/interop/services.sh"
start_services

N=${GHZ_N:-40}
out=$(mktemp -d)
trap 'rm -rf "$out"; stop_services' EXIT

run() { # name config host [extra ghz flags...] -> $out/name.json
  local name=$1 config=$2 host=$3
  shift 3
  "$ghz" --config "$config" --name "$name" -n "$N" -c 4 --format json --output "$out/$name.json" \
    "$@" "$host"
}

host_of() { # config -> the host of our processes that serves its call
  case "$(basename "$1")" in
    connect-* | health-server-svc.json) echo "$SERVER_ADDR" ;;
    *) echo "$CLIENT_ADDR" ;;
  esac
}

echo "==> ghz through server reflection"
for config in "$here"/ghz/*.json; do
  name=$(basename "$config" .json)
  run "$name" "$config" "$(host_of "$config")"
  python3 "$here/check_ghz.py" "$out/$name.json" "$N"
done

echo "==> ghz with --proto (no reflection)"
for config in "$here"/ghz/handshake-*.json "$here"/ghz/connect-*.json; do
  name=$(basename "$config" .json)-proto
  run "$name" "$config" "$(host_of "$config")" \
    --proto "$root/proto/handshake/v1/service.proto" --import-paths "$root/proto"
  python3 "$here/check_ghz.py" "$out/$name.json" "$N"
done

echo "==> a failing load is reported as failing"
config="$here/ghz/handshake-ecdhe-rsa-aes-128-gcm-sha256.json"
run lab-corrupt-finished "$config" "$CLIENT_ADDR" \
  -d '{"options":{"lab":{"corruptClientFinished":true}}}'
if python3 "$here/check_ghz.py" "$out/lab-corrupt-finished.json" "$N" 2>/dev/null; then
  echo "error: the checker accepted a load in which every session failed" >&2
  exit 1
fi
# ...and every call failed with the code of the alert (decrypt_error:
# UNAUTHENTICATED), which grpc-go reads from the status details.
python3 "$here/check_ghz.py" "$out/lab-corrupt-finished.json" "$N" --all-fail Unauthenticated
echo "ghz: every load completed with the expected count and no errors"
