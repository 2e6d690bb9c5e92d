#!/usr/bin/env bash
# The Go interop check (issue 5, item 3): installs the pinned code generators
# (protoc-gen-go and protoc-gen-go-grpc with `go install` into .bin, the buf
# CLI from PyPI's buf-bin into .venv), generates the stubs from proto/ into
# gen/ (all three git-ignored; no protoc needed), starts server-svc and
# client-svc on free loopback ports (../services.sh), runs `go test` against
# them, and stops them. Works from any directory.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12     # = google.golang.org/protobuf in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
BUF_VERSION=1.75.0

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
cd "$HERE"

# Code generators, each reinstalled only when missing or at another version.
BIN="$HERE/.bin"
if [ "$("$BIN/protoc-gen-go" --version 2>/dev/null)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
  GOBIN="$BIN" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if [ "$("$BIN/protoc-gen-go-grpc" --version 2>/dev/null)" != "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}" ]; then
  GOBIN="$BIN" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi
VENV="$HERE/.venv"
if [ "$("$VENV/bin/buf" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "buf-bin==$BUF_VERSION"
fi

# Stubs: gen/handshake/v1/{tls,service}.pb.go and service_grpc.pb.go.
rm -rf gen
PATH="$BIN:$PATH" "$VENV/bin/buf" generate "$ROOT/proto" --template buf.gen.yaml

unformatted=$(gofmt -l client_test.go cmd)
if [ -n "$unformatted" ]; then
  echo "error: not gofmt-formatted: $unformatted" >&2
  exit 1
fi

# shellcheck source=../services.sh
source "$ROOT/tests/interop/services.sh"
start_services
echo "server-svc on $SERVER_ADDR, client-svc on $CLIENT_ADDR"
go vet ./...
go test -count=1 -v ./...
