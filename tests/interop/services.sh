# Sourced by each language's run.sh: builds and starts server-svc and
# client-svc as real processes on free loopback ports, each in a temporary
# directory, and stops them when the sourcing script exits.
#
# After `start_services`:
#   SERVER_ADDR  host:port of server-svc (gRPC, plaintext)
#   CLIENT_ADDR  host:port of client-svc (gRPC, plaintext)
#   CA_FILE      the lab CA that server-svc's certificates chain to
#   SERVER_NAME  the name in those certificates (localhost)
# shellcheck shell=bash

INTEROP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

_interop_pids=()
_interop_dir=""
stop_services() {
  for p in "${_interop_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${_interop_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  _interop_pids=()
  [ -n "$_interop_dir" ] && rm -rf "$_interop_dir"
}

# Waits until a gRPC port accepts TCP connections (bounded), or shows the log.
_wait_port() { # port log
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "error: nothing listens on port $1; its log:" >&2
  cat "$2" >&2
  return 1
}

start_services() {
  (cd "$INTEROP_ROOT" && cargo build -q --locked -p server-svc -p client-svc)
  local bin="$INTEROP_ROOT/target/debug"
  _interop_dir=$(mktemp -d)
  trap stop_services EXIT
  local sp cp
  sp=$(free_port)
  cp=$(free_port)
  (cd "$_interop_dir" && exec "$bin/server-svc" serve --listen "127.0.0.1:$sp") \
    >"$_interop_dir/server-svc.log" 2>&1 &
  _interop_pids+=($!)
  _wait_port "$sp" "$_interop_dir/server-svc.log"
  (cd "$_interop_dir" && exec "$bin/client-svc" serve --listen "127.0.0.1:$cp" \
    --server "http://127.0.0.1:$sp" --ca "$_interop_dir/pki/ca.pem") \
    >"$_interop_dir/client-svc.log" 2>&1 &
  _interop_pids+=($!)
  _wait_port "$cp" "$_interop_dir/client-svc.log"
  export SERVER_ADDR="127.0.0.1:$sp" CLIENT_ADDR="127.0.0.1:$cp"
  export CA_FILE="$_interop_dir/pki/ca.pem" SERVER_NAME=localhost
}
