#!/usr/bin/env bash
# The performance report: runs every measurement on this machine, side by
# side in one run, and writes a markdown table of ratios (docs/PERFORMANCE.md
# unless --out says otherwise):
#   (a) the engine vs rustls, one full in-memory session per suite (criterion)
#   (b) server-svc sessions/s at saturation vs the cryptographic floor times
#       the cores server-svc used
#   (c) server-svc's real TLS front vs nginx (Debian's), same suite,
#       certificate, load generator and cores
#   (d) ghz latency percentiles and sessions/s of client-svc Handshake at
#       concurrency 1, 16 and 64
#   (e) server-svc resident memory idle and with 10,000 sessions held after
#       ServerHelloDone
#   (f) what watching costs: server-svc CPU per session with metrics off and
#       on, and with its logs at warn, info (one line a session) and with the
#       step lines on; log bytes per session
# Where a target is missed, a perf profile of server-svc on that load is kept
# next to the report (docs/perf/).
#
# The cores are split in two halves: the servers (server-svc, client-svc in
# (d), nginx) run on the upper half, the load generators on the lower half,
# so the two never compete; criterion runs on one core of the server half.
#
# Usage: tests/load/report.sh [--quick] [--out FILE]
#   --quick   short measurements and three suites, for checking the script
#             (the numbers are then rough)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

quick=0
out=docs/PERFORMANCE.md
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    *) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done

# ALL_SUITES, target_dir, bound_addr
# shellcheck source=../../scripts/lib.sh
source scripts/lib.sh
if [ "$quick" -eq 1 ]; then
  SUITES=(TLS_RSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
  SECS=3 HOLD=1000 BENCH_FLAGS=(--warm-up-time 1 --measurement-time 2)
else
  SUITES=("${ALL_SUITES[@]}")
  SECS=10 HOLD=10000 BENCH_FLAGS=(--warm-up-time 2 --measurement-time 5)
fi
CONCURRENCY=${CONCURRENCY:-64}

tools=$(./scripts/tools.sh ghz nginx perf curl)
ghz="$tools/ghz"
nginx=$(command -v nginx || echo /usr/sbin/nginx)

# --- the two halves of the machine ------------------------------------------
cpus=$(nproc)
if [ "$cpus" -lt 2 ]; then
  echo "error: the report needs at least 2 cores (servers and load apart)" >&2
  exit 1
fi
half=$((cpus / 2))
CLIENT_CPUS="0-$((half - 1))"
SERVER_CPUS="$half-$((cpus - 1))"
SERVER_CORES=$((cpus - half))
ONE_SERVER_CPU=$half

work=$(mktemp -d)
results="$work/results"
mkdir -p "$results"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> building release binaries" >&2
cargo build -q --release --locked -p server-svc -p client-svc
target=$(target_dir)
bin="$target/release"
"$bin/server-svc" pki init --out "$work/pki" --name localhost >/dev/null
ca="$work/pki/ca.pem"

# The gRPC port of process $1, from ss(8): for a server-svc that logs only
# warnings, hence not its address. With metrics on ($2 not `off`) it has a
# second listener: the gRPC one is the port that does not answer GET /metrics.
listening_port() { # pid metrics
  local addr p want=1
  [ "${2:-off}" = off ] || want=2
  for _ in $(seq 1 200); do
    addr=$(ss -Hltnp | awk -v p="pid=$1," 'index($0, p) { print $4 }')
    if [ "$(echo "$addr" | grep -c .)" -ge "$want" ]; then
      for p in $addr; do
        curl -sf -o /dev/null "http://127.0.0.1:${p##*:}/metrics" && continue
        echo "${p##*:}"
        return 0
      done
    fi
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  echo "error: process $1 listens on no port" >&2
  return 1
}
cpu_ticks() { # pid -> utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
rss_kib() { # pid
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
stop() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Adds the server's CPU seconds over a run to that run's JSON.
add_cpu() { # name ticks_before ticks_after
  python3 - "$results/$1.json" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import json, sys
path, before, after, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(path))
r["server_cpu_seconds"] = (after - before) / hz
json.dump(r, open(path, "w"), indent=1)
PY
}

# server-svc pinned to the server half, on a gRPC port it picks itself (no
# port is picked free here and bound later, which another process could take
# in between); with `--tls` its TLS front too. Sets server (its pid), port
# and tport. Extra flags follow.
# Metrics are on (the default) on a port of server-svc's own choosing;
# METRICS=off turns them off. Its log is $server_log.
starts=0
start_server() { # [--tls] [flags...]
  local log="$work/server-svc-$((starts += 1)).log" tls=()
  server_log=$log
  [ "${1:-}" = --tls ] && shift && tls=(--tls-listen 127.0.0.1:0)
  local metrics=127.0.0.1:0
  [ "${METRICS:-on}" = off ] && metrics=off
  taskset -c "$SERVER_CPUS" "$bin/server-svc" serve --listen 127.0.0.1:0 "${tls[@]}" \
    --metrics-listen "$metrics" \
    --rsa-cert "$work/pki/rsa.pem" --rsa-key "$work/pki/rsa.key" \
    --ecdsa-cert "$work/pki/ecdsa.pem" --ecdsa-key "$work/pki/ecdsa.key" \
    --max-sessions 100000 "$@" >"$log" 2>&1 &
  server=$!
  pids+=("$server")
  if [ "${RUST_LOG:-}" = warn ]; then
    port=$(listening_port "$server" "$metrics")
  else
    port=$(bound_addr "$log" listen "$server")
    port=${port##*:}
  fi
  if [ ${#tls[@]} -gt 0 ]; then
    tport=$(bound_addr "$log" tls_listen "$server")
    tport=${tport##*:}
  fi
}

# The Rust load generator (`bench load`) on the client half; its JSON to $results/$1.json.
bench() { # name url suite [flags...]
  local name=$1 url=$2 suite=$3
  shift 3
  taskset -c "$CLIENT_CPUS" "$bin/client-svc" bench load --server "$url" --ca "$ca" \
    --server-name localhost --suite "$suite" "$@" >"$results/$name.json"
}

# One measured load: a short unrecorded warm-up (connections, caches), then
# the run itself. With a server pid, that process's CPU time is read just
# around the run, so that "cores used" covers exactly the measured seconds.
measure() { # name url suite [server_pid]
  local name=$1 url=$2 suite=$3 pid=${4:-} before=0 after=0
  bench "warm-$name" "$url" "$suite" --concurrency "$CONCURRENCY" \
    --count $((CONCURRENCY * 4)) --warm-up 0
  rm -f "$results/warm-$name.json"
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  bench "$name" "$url" "$suite" --concurrency "$CONCURRENCY" --duration "$SECS" --warm-up 0
  [ -n "$pid" ] && after=$(cpu_ticks "$pid") && add_cpu "$name" "$before" "$after"
  return 0
}

# --- (a) and the floors: criterion, one core ----------------------------------
echo "==> (a) criterion: engine, rustls and the cryptographic floor" >&2
taskset -c "$ONE_SERVER_CPU" cargo bench -q --locked -p handshake --bench handshake -- \
  --noplot "${BENCH_FLAGS[@]}" >"$work/criterion.txt" 2>&1 || {
  cat "$work/criterion.txt" >&2
  exit 1
}
cp -r "$target/criterion" "$results/criterion"

# --- (b) server-svc at saturation -----------------------------------------------
echo "==> (b) server-svc sessions/s at saturation (concurrency $CONCURRENCY)" >&2
start_server
for suite in "${SUITES[@]}"; do
  measure "b-$suite" "http://127.0.0.1:$port" "$suite" "$server"
done
stop "$server"
# (f) The same load, changing one thing at a time: logs at warn, the step
# lines on (what info wrote before one line a session), metrics off. Log
# bytes per session are read around the measured run.
measure_logged() { # name suite
  local before after
  before=$(stat -c %s "$server_log")
  measure "$1" "http://127.0.0.1:$port" "$2" "$server"
  sleep 0.2 # the log writer thread drains its queue
  after=$(stat -c %s "$server_log")
  python3 - "$results/$1.json" "$before" "$after" <<'PY'
import json, sys
path, before, after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = json.load(open(path))
r["server_log_bytes"] = after - before
json.dump(r, open(path, "w"), indent=1)
PY
}
for variant in warn steps nometrics info; do
  case $variant in
    warn) RUST_LOG=warn start_server ;;
    steps) RUST_LOG=info,handshake::step=debug start_server ;;
    nometrics) METRICS=off start_server ;;
    info) start_server ;;
  esac
  for suite in "${SUITES[@]}"; do
    measure_logged "f-$variant-$suite" "$suite"
  done
  stop "$server"
done

# --- (c) the TLS front vs nginx --------------------------------------------------
openssl_name() {
  case "$1" in
    TLS_RSA_WITH_AES_128_GCM_SHA256) echo AES128-GCM-SHA256 ;;
    TLS_RSA_WITH_AES_256_GCM_SHA384) echo AES256-GCM-SHA384 ;;
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) echo ECDHE-RSA-AES128-GCM-SHA256 ;;
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) echo ECDHE-RSA-AES256-GCM-SHA384 ;;
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256) echo ECDHE-RSA-CHACHA20-POLY1305 ;;
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) echo ECDHE-ECDSA-AES128-GCM-SHA256 ;;
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384) echo ECDHE-ECDSA-AES256-GCM-SHA384 ;;
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) echo ECDHE-ECDSA-CHACHA20-POLY1305 ;;
  esac
}
echo "==> (c) server-svc's TLS front vs nginx, $SERVER_CORES core(s) each" >&2
for suite in "${SUITES[@]}"; do
  start_server --tls --suite "$suite"
  measure "c-front-$suite" "tls://127.0.0.1:$tport" "$suite"
  stop "$server"

  ndir="$work/nginx-$suite"
  mkdir -p "$ndir"
  # nginx cannot listen on port 0: a port that was free a moment ago, and
  # another one if something took it before nginx bound it.
  for _ in 1 2 3; do
    nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$ndir/nginx.conf" <<EOF
worker_processes $SERVER_CORES;
daemon off;
pid $ndir/nginx.pid;
error_log $ndir/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $ndir/body;
  proxy_temp_path $ndir/proxy;
  fastcgi_temp_path $ndir/fastcgi;
  uwsgi_temp_path $ndir/uwsgi;
  scgi_temp_path $ndir/scgi;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_protocols TLSv1.2;
    ssl_ciphers $(openssl_name "$suite");
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_certificate $work/pki/rsa.pem;
    ssl_certificate_key $work/pki/rsa.key;
    ssl_certificate $work/pki/ecdsa.pem;
    ssl_certificate_key $work/pki/ecdsa.key;
    location / { return 200 "ok\n"; }
  }
}
EOF
    taskset -c "$SERVER_CPUS" "$nginx" -c "$ndir/nginx.conf" -e "$ndir/error.log" >"$ndir/stdout" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    listening_port "$nginx_pid" >/dev/null 2>&1 && break
    grep -q "in use" "$ndir/error.log" || { cat "$ndir/error.log" >&2; exit 1; }
  done
  # nginx's CPU time is spread over its worker processes: only its rate is
  # compared, so no pid.
  measure "c-nginx-$suite" "tls://127.0.0.1:$nport" "$suite"
  stop "$nginx_pid"
done

# --- (d) ghz against client-svc Handshake -------------------------------------
echo "==> (d) ghz: client-svc Handshake at concurrency 1, 16, 64" >&2
start_server
taskset -c "$SERVER_CPUS" "$bin/client-svc" serve --listen 127.0.0.1:0 \
  --server "http://127.0.0.1:$port" --ca "$ca" --max-sessions 100000 --metrics-listen 127.0.0.1:0 \
  >"$work/client-svc.log" 2>&1 &
pids+=($!)
client=$!
cport=$(bound_addr "$work/client-svc.log" listen "$client")
cport=${cport##*:}
GHZ_SUITE=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
for c in 1 16 64; do
  taskset -c "$CLIENT_CPUS" "$ghz" --config tests/load/ghz/handshake-ecdhe-rsa-aes-128-gcm-sha256.json \
    -c "$c" -n 0 -z "${SECS}s" --duration-stop wait --connections 1 --format json \
    --output "$results/d-ghz-c$c.json" \
    "127.0.0.1:$cport"
done
stop "$client"
stop "$server"

# --- (e) memory -----------------------------------------------------------------
echo "==> (e) memory: idle and with $HOLD sessions held after ServerHelloDone" >&2
start_server --handshake-timeout 600 --handshake-deadline 600
sleep 1
idle=$(rss_kib "$server")
taskset -c "$CLIENT_CPUS" "$bin/client-svc" bench hold --server "http://127.0.0.1:$port" --ca "$ca" \
  --server-name localhost --sessions "$HOLD" --hold-for 600 >"$work/hold.out" 2>"$work/hold.err" &
holder=$!
pids+=("$holder")
for _ in $(seq 1 1200); do
  grep -q '"held"' "$work/hold.out" 2>/dev/null && break
  kill -0 "$holder" 2>/dev/null || { cat "$work/hold.err" >&2; exit 1; }
  sleep 0.1
done
sleep 1
held_rss=$(rss_kib "$server")
python3 - "$work/hold.out" "$idle" "$held_rss" "$HOLD" >"$results/e-memory.json" <<'PY'
import json, sys
line = next(l for l in open(sys.argv[1]) if '"held"' in l)
held = json.loads(line)["held"]
print(json.dumps({"idle_kib": int(sys.argv[2]), "held_kib": int(sys.argv[3]),
                  "held": held, "wanted": int(sys.argv[4])}))
PY
stop "$holder"
stop "$server"

# --- machine facts and the table ------------------------------------------------
python3 - "$results/machine.json" "$SERVER_CPUS" "$CLIENT_CPUS" "$quick" <<'PY'
import json, os, platform, subprocess, sys
model = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip()
        break
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
json.dump({"cpu": model, "cores": os.cpu_count(), "mem_gib": round(int(mem) / 2**20, 1),
           "kernel": platform.release(), "rustc": rustc,
           "server_cpus": sys.argv[2], "client_cpus": sys.argv[3],
           "quick": sys.argv[4] == "1"}, open(sys.argv[1], "w"))
PY
nginx -v 2>"$results/nginx-version.txt" || true

python3 tests/load/report.py "$results" "${SUITES[@]}" >"$work/report.md"

# Profiles for missed targets: report.py lists them as "KIND SUITE" lines.
perf_dir="$(dirname "$out")/perf"
mkdir -p "$perf_dir"
while read -r kind suite; do
  [ -n "$kind" ] || continue
  echo "==> profiling $kind $suite" >&2
  if [ "$kind" = engine ]; then
    # The criterion benchmark alone, run for a fixed time without analysis.
    perf record -q -F 999 -o "$work/perf.data" -- taskset -c "$ONE_SERVER_CPU" \
      cargo bench -q --locked -p handshake --bench handshake -- --profile-time "$SECS" \
      "^session/engine/$suite\$" >/dev/null 2>&1 || true
  else
    start_server --tls --suite "$suite"
    url="http://127.0.0.1:$port"
    [ "$kind" = front ] && url="tls://127.0.0.1:$tport"
    perf record -q -F 999 -p "$server" -o "$work/perf.data" -- sleep "$SECS" 2>/dev/null &
    perfpid=$!
    bench "profile" "$url" "$suite" --concurrency "$CONCURRENCY" --duration "$SECS" || true
    wait "$perfpid" || true
    stop "$server"
  fi
  # A flat profile by library and symbol: the release build keeps symbols
  # but no frame pointers, so call graphs would be guesses.
  perf report -i "$work/perf.data" --stdio --sort dso,sym --percent-limit 0.3 2>/dev/null \
    | grep -v '^$' | head -120 >"$perf_dir/$kind-$suite.txt"
done <"$results/missed.txt"

mkdir -p "$(dirname "$out")"
cp "$work/report.md" "$out"
echo "wrote $out" >&2
