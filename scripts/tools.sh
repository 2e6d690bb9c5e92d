#!/usr/bin/env bash
# Installs the pinned command-line tools the project's scripts use into
# .tools/bin (git-ignored) and prints that directory. Go tools come from the
# Go module proxy with `go install`, at the versions below.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCURL_VERSION=v1.9.3

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

for tool in "$@"; do
  case "$tool" in
    grpcurl) install_go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION" ;;
    *) echo "error: unknown tool $tool" >&2; exit 1 ;;
  esac
done
echo "$bin"
