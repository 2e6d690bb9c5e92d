#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, and all tests.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: $1 not found: $2" >&2; exit 1; }
}
need cargo "install Rust (rustup, stable toolchain)"
# rustfmt and clippy ship with rustup's default profile; add them if a
# minimal profile left them out.
for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done

# Interop tests talk to OpenSSL and curl; the demo uses grpcurl.
tools=$(./scripts/tools.sh openssl curl grpcurl buf)

echo "==> buf lint (STANDARD) and buf breaking against the previous commit"
"$tools/buf" lint proto
if git rev-parse -q --verify HEAD~1 >/dev/null \
    && git cat-file -e HEAD~1:proto/handshake/v1/service.proto 2>/dev/null; then
  "$tools/buf" breaking proto --against '.git#ref=HEAD~1,subdir=proto'
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked -- --include-ignored
echo "==> deploy/: kustomize renders, Kubernetes schemas, checkov and the wiring, offline"
./scripts/validate-deploy.sh
echo "==> other languages: Python (incl. an independent TLS 1.2 client), Go, Node"
for lang in python go node; do
  echo "--> tests/interop/$lang"
  "tests/interop/$lang/run.sh"
done

echo "==> fuzzing: every cargo-fuzz target from its seed corpus, about a minute in all (fuzz/README.md)"
./scripts/fuzz.sh

echo "==> ghz: a short bounded load with every config in tests/load/ghz/"
tests/load/run.sh

echo "==> watching it: a real Prometheus and a real Jaeger read back metrics and a trace (tests/observe)"
tests/observe/run.sh

echo "==> the in-memory example, one RSA and one ECDHE suite"
cargo run -q --locked -p handshake --example in_memory TLS_RSA_WITH_AES_256_GCM_SHA384
cargo run -q --locked -p handshake --example in_memory TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
echo "==> the main job (README): a handshake per suite through client-svc's gRPC API"
./scripts/demo.sh

echo "==> the performance report, --quick (the numbers are discarded: this checks that tests/load/report.sh runs)"
report_dir=$(mktemp -d)
tests/load/report.sh --quick --out "$report_dir/PERFORMANCE.md"
grep -q '^## (e) Memory' "$report_dir/PERFORMANCE.md"
grep -q '^## (f) What watching costs' "$report_dir/PERFORMANCE.md"
rm -rf "$report_dir"
