# Sourced by each language's run.sh: builds and starts server-svc and
# client-svc as real processes on loopback ports they pick, each in a temporary
# directory, and stops them when the sourcing script exits.
#
# After `start_services`:
#   SERVER_ADDR  host:port of server-svc (gRPC, plaintext)
#   CLIENT_ADDR  host:port of client-svc (gRPC, plaintext)
#   CA_FILE      the lab CA that server-svc's certificates chain to
#   SERVER_NAME  the name in those certificates (localhost)
# shellcheck shell=bash

INTEROP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# shellcheck source=../../scripts/lib.sh
source "$INTEROP_ROOT/scripts/lib.sh"

_interop_pids=()
_interop_dir=""
stop_services() {
  for p in "${_interop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${_interop_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  _interop_pids=()
  [ -n "$_interop_dir" ] && rm -rf "$_interop_dir"
}

start_services() {
  (cd "$INTEROP_ROOT" && cargo build -q --locked -p server-svc -p client-svc)
  local bin
  bin="$(cd "$INTEROP_ROOT" && target_dir)/debug"
  _interop_dir=$(mktemp -d)
  trap stop_services EXIT
  # Port 0: each service binds a free port itself and logs which.
  (cd "$_interop_dir" && exec "$bin/server-svc" serve --listen 127.0.0.1:0 --metrics-listen off) \
    >"$_interop_dir/server-svc.log" 2>&1 &
  _interop_pids+=($!)
  SERVER_ADDR=$(bound_addr "$_interop_dir/server-svc.log" listen $!)
  (cd "$_interop_dir" && exec "$bin/client-svc" serve --listen 127.0.0.1:0 --metrics-listen off \
    --server "http://$SERVER_ADDR" --ca "$_interop_dir/pki/ca.pem") \
    >"$_interop_dir/client-svc.log" 2>&1 &
  _interop_pids+=($!)
  CLIENT_ADDR=$(bound_addr "$_interop_dir/client-svc.log" listen $!)
  export SERVER_ADDR CLIENT_ADDR
  export CA_FILE="$_interop_dir/pki/ca.pem" SERVER_NAME=localhost
}
