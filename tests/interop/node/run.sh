#!/usr/bin/env bash
# Node interop check: installs the pinned @grpc/grpc-js and @grpc/proto-loader
# (package-lock.json) into ./node_modules, starts server-svc and client-svc
# (../services.sh), runs handshake.test.js with Node's test runner against
# them, and stops them. Works from any directory. Needs Node >= 20 and npm.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# shellcheck source=../services.sh
source "$here/../services.sh"
start_services
echo "server-svc on $SERVER_ADDR, client-svc on $CLIENT_ADDR"

node client.js "$CLIENT_ADDR" TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
node --test --test-reporter=spec --test-timeout=60000 handshake.test.js
