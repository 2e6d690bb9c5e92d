# Sourced by the scripts that build and start the services: scripts/demo.sh,
# scripts/validate-deploy.sh, tests/interop/services.sh, tests/load/report.sh.
# shellcheck shell=bash

# The eight cipher suites, RSA key transport first (the demo's and the
# performance report's order).
ALL_SUITES=(
  TLS_RSA_WITH_AES_128_GCM_SHA256
  TLS_RSA_WITH_AES_256_GCM_SHA384
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
)

# Cargo's target directory, as cargo itself resolves it (CARGO_TARGET_DIR,
# a config's build.target-dir, or target/), absolute.
target_dir() {
  cargo metadata -q --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# The address a service started with `--listen 127.0.0.1:0` bound: the
# services log it at start (`listen=127.0.0.1:PORT`, `tls_listen=...`).
# Binding port 0 leaves no gap in which another process takes the port.
# Waits (bounded) while PID lives; prints host:port.
bound_addr() { # log key pid
  local line
  for _ in $(seq 1 300); do
    line=$(grep -o -m1 " $2=[0-9.]*:[0-9]*" "$1" 2>/dev/null) && { echo "${line#*=}"; return 0; }
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  echo "error: no $2 address in $1; its log:" >&2
  cat "$1" >&2
  return 1
}
