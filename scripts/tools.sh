#!/usr/bin/env bash
# Installs the pinned command-line tools the project's scripts use into
# .tools/bin (git-ignored) and prints that directory. Go tools come from the
# Go module proxy with `go install`, Rust tools from crates.io with
# `cargo install --locked`, at the versions below.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCURL_VERSION=v1.9.3
BUF_VERSION=1.75.0
GHZ_VERSION=v0.121.0
CARGO_FUZZ_VERSION=0.13.2
# Jaeger v2 (cmd/jaeger, an OpenTelemetry Collector build) receives the
# services' OTLP traces in tests/observe. Built from source: its go.mod has
# replace directives, so `go install module@version` is refused.
JAEGER_VERSION=v1.75.0

bin="$PWD/.tools/bin"
mkdir -p "$bin"

install_go_tool() { # name module version
  local name=$1 module=$2 version=$3
  if [ -x "$bin/$name" ] && [ -f "$bin/.$name.$version" ]; then
    return
  fi
  command -v go >/dev/null 2>&1 || { echo "error: go not found: needed to install $name" >&2; exit 1; }
  echo "installing $name $version" >&2
  GOBIN="$bin" go install "$module@$version" >&2
  touch "$bin/.$name.$version"
}

# A module of our own under .tools/ that requires Jaeger as a tool, so its
# replace directives do not apply and the Go proxy's module graph is used.
install_jaeger() {
  local version=$JAEGER_VERSION
  if [ -x "$bin/jaeger" ] && [ -f "$bin/.jaeger.$version" ]; then
    return
  fi
  command -v go >/dev/null 2>&1 || { echo "error: go not found: needed to build jaeger" >&2; exit 1; }
  echo "building jaeger $version (cold: several minutes, ~1 GB of Go module cache)" >&2
  local mod="$PWD/.tools/jaeger-mod"
  rm -rf "$mod" && mkdir -p "$mod"
  (cd "$mod" && go mod init local/jaeger-tool >&2 \
    && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version" >&2 \
    && go build -o "$bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger >&2)
  touch "$bin/.jaeger.$version"
}

install_cargo_tool() { # name crate version
  local name=$1 crate=$2 version=$3
  if [ -x "$bin/$name" ] && [ -f "$bin/.$name.$version" ]; then
    return
  fi
  command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found: needed to install $name" >&2; exit 1; }
  echo "installing $crate $version" >&2
  cargo install -q "$crate" --version "$version" --locked --root "$PWD/.tools" >&2
  touch "$bin/.$name.$version"
}

# cargo-fuzz drives libFuzzer with -Zsanitizer=address, which needs a
# nightly toolchain (scripts/fuzz.sh runs `cargo +nightly fuzz`).
install_nightly() {
  command -v rustup >/dev/null 2>&1 || { echo "error: rustup not found: needed for a nightly toolchain" >&2; exit 1; }
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain (minimal profile)" >&2
    rustup toolchain install nightly --profile minimal >&2
  fi
}

install_debian_package() { # command package
  command -v "$1" >/dev/null 2>&1 && return
  command -v apt-get >/dev/null 2>&1 || { echo "error: $1 not found and no apt-get to install $2" >&2; exit 1; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing $2 from Debian's packages" >&2
  $sudo apt-get update -qq >&2
  # policy-rc.d answering 101 keeps a package's postinst from starting its
  # system service (prometheus ships one); without systemd or invoke-rc.d
  # the postinst skips the start anyway. Tests start their own processes.
  local policy=/usr/sbin/policy-rc.d restore=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && restore=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >&2 || { [ -n "$restore" ] && $sudo rm -f "$policy"; exit 1; }
  [ -n "$restore" ] && $sudo rm -f "$policy"
  return 0
}

install_pypi_tool() { # name package version
  local name=$1 package=$2 version=$3
  if [ -x "$bin/$name" ] && [ -f "$bin/.$name.$version" ]; then
    return
  fi
  command -v python3 >/dev/null 2>&1 || { echo "error: python3 not found: needed to install $name" >&2; exit 1; }
  echo "installing $package $version" >&2
  python3 -m venv "$PWD/.tools/venv" >&2
  "$PWD/.tools/venv/bin/pip" install -q "$package==$version" >&2
  ln -sf "$PWD/.tools/venv/bin/$name" "$bin/$name"
  touch "$bin/.$name.$version"
}

for tool in "$@"; do
  case "$tool" in
    buf) install_pypi_tool buf buf-bin "$BUF_VERSION" ;;
    openssl) install_debian_package openssl openssl ;;
    curl) install_debian_package curl curl ;;
    nginx) install_debian_package nginx nginx ;;
    perf) install_debian_package perf linux-perf ;;
    grpcurl) install_go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION" ;;
    cargo-fuzz) install_nightly; install_cargo_tool cargo-fuzz cargo-fuzz "$CARGO_FUZZ_VERSION" ;;
    prometheus) install_debian_package prometheus prometheus ;;
    chromium) install_debian_package chromium chromium ;;
    jaeger) install_jaeger ;;
    ghz) install_go_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION" ;;
    *) echo "error: unknown tool $tool" >&2; exit 1 ;;
  esac
done
echo "$bin"
