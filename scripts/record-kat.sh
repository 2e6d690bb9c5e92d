#!/usr/bin/env bash
# Records the known-answer TLS 1.2 sessions that handshake/tests/known_answers.rs
# replays through the engine. Never run by CI or by the tests: the recordings
# are committed, and re-recording changes every byte (new randoms), which the
# test does not mind (it reads the expected values from the recordings' key
# logs, not from the test's source).
#
# Usage: scripts/record-kat.sh            (from anywhere in the repository)
#
# Needs bash, python3 and OpenSSL 3 (`openssl` on PATH). Everything runs on
# 127.0.0.1 on ports the system picks (port 0), one session at a time.
#
# What it does, per session:
#
#   openssl s_client  --->  scripts/kat_proxy.py  --->  openssl s_server
#      (-keylogfile)        writes c2s.bin, s2c.bin      (-keylogfile, -rev)
#
#   1. s_server -tls1_2 -cipher <one suite> -no_ticket -rev with the lab
#      certificate and key below; -rev echoes each line back reversed, so
#      both directions carry application data.
#   2. kat_proxy.py forwards the one TCP connection unchanged and records the
#      raw bytes of each direction.
#   3. s_client -tls1_2 -cipher <the same suite> -no_ticket, verifying the
#      server against ca.pem for "localhost" (-verify_return_error), sends
#      one line ($LINE below; -nocommands, or a line starting with "k", "Q"
#      or "R" would be taken as a command), waits a second for the echo,
#      then closes (close_notify) at the end of its input.
#   4. The script checks what OpenSSL says it did (suite, extended master
#      secret or not, certificate verified, echo received) and that both
#      key logs carry the same CLIENT_RANDOM line, then stores
#      handshake/tests/data/kat/<session>/{c2s.bin,s2c.bin,keylog.txt}.
#      keylog.txt is NSS key log format: the client's "RSA" line (first 8
#      bytes of the encrypted pre-master, the pre-master) and the
#      "CLIENT_RANDOM <client random> <master secret>" line.
#
# The lab PKI (handshake/tests/data/kat/): ca.pem (a throwaway RSA-2048 root
# "KAT Lab CA"; its private key is discarded after issuing), server.crt.der
# (RSA-2048 leaf for DNS:localhost / IP:127.0.0.1, serverAuth) and
# server.key.der (its private key, PKCS#8 DER, unencrypted: test data only).
# They are made on the first run and reused afterwards; delete all three to
# make new ones (then every session is re-recorded with the new certificate,
# as always).
#
# Sessions are recorded with OpenSSL's own config replaced (OPENSSL_CONF
# pointed at a file of ours) so the host's openssl.cnf cannot change them.
# OpenSSL 3.0's s_client has no -no_ems switch; the extended master secret
# (RFC 7627) is turned off through that config with
# "Options = -ExtendedMasterSecret" on the side that should not use it.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
kat="$root/handshake/tests/data/kat"
proxy="$here/kat_proxy.py"

# The line the client sends; known_answers.rs expects exactly this (plus
# "\n"), and its reverse (plus "\n") from the server.
LINE='known answer: one line of application data from scripts/record-kat.sh'

# name  OpenSSL suite name  extended master secret: both | client-off | server-off
SESSIONS=(
    "rsa-aes128-gcm-sha256-ems        AES128-GCM-SHA256  both"
    "rsa-aes256-gcm-sha384-ems        AES256-GCM-SHA384  both"
    "rsa-aes128-gcm-sha256-no-ems     AES128-GCM-SHA256  client-off"
    "rsa-aes256-gcm-sha384-server-no-ems AES256-GCM-SHA384 server-off"
)

die() {
    echo "record-kat: $*" >&2
    exit 1
}

for tool in openssl python3; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done
openssl_version=$(openssl version)
[[ $openssl_version == "OpenSSL 3."* ]] || die "needs OpenSSL 3, found: $openssl_version"

tmp=$(mktemp -d)
pids=()
cleanup() {
    # Only the processes this script started, by id.
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN, while PID lives.
wait_for() {
    local file=$1 pattern=$2 pid=$3
    for _ in $(seq 100); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || {
            cat "$file" >&2 || true
            die "process $pid exited before printing '$pattern'"
        }
        sleep 0.1
    done
    die "timed out waiting for '$pattern' in $file"
}

# ---------------------------------------------------------------------------
# Lab PKI

make_pki() {
    local d="$tmp/pki"
    mkdir -p "$d"
    echo "record-kat: making a new lab CA and RSA-2048 certificate for localhost"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7300 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=KAT Lab CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
        -subj "/CN=localhost" 2>/dev/null
    cat >"$d/leaf.ext" <<'EOF'
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
EOF
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 7300 -sha256 -extfile "$d/leaf.ext" -out "$d/server.pem" 2>/dev/null
    openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null
    mkdir -p "$kat"
    cp "$d/ca.pem" "$kat/ca.pem"
    openssl x509 -in "$d/server.pem" -outform DER -out "$kat/server.crt.der"
    openssl pkcs8 -topk8 -nocrypt -in "$d/server.key" -outform DER -out "$kat/server.key.der"
}

if [[ -f $kat/ca.pem && -f $kat/server.crt.der && -f $kat/server.key.der ]]; then
    echo "record-kat: reusing the lab CA and certificate in $kat"
else
    make_pki
fi

# OpenSSL configs: defaults, and the extended master secret turned off.
: >"$tmp/default.cnf"
cat >"$tmp/no-ems.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_module
[ssl_module]
system_default = tls_defaults
[tls_defaults]
Options = -ExtendedMasterSecret
EOF

# ---------------------------------------------------------------------------
# One session

record() {
    local name=$1 cipher=$2 ems=$3
    local d="$tmp/$name"
    mkdir -p "$d"
    local server_conf="$tmp/default.cnf" client_conf="$tmp/default.cnf" want_ems=yes
    case $ems in
    both) ;;
    client-off) client_conf="$tmp/no-ems.cnf" want_ems=no ;;
    server-off) server_conf="$tmp/no-ems.cnf" want_ems=no ;;
    *) die "unknown EMS mode $ems" ;;
    esac
    local sport pport
    OPENSSL_CONF=$server_conf timeout 60 openssl s_server -tls1_2 \
        -accept 127.0.0.1:0 \
        -cert "$kat/server.crt.der" -certform DER \
        -key "$kat/server.key.der" -keyform DER \
        -cipher "$cipher" -no_ticket -naccept 1 -rev \
        -keylogfile "$d/server.keys" >"$d/server.log" 2>"$d/server.err" &
    local server_pid=$!
    pids+=("$server_pid")
    # "ACCEPT 127.0.0.1:PORT": the port s_server bound.
    wait_for "$d/server.log" '^ACCEPT' "$server_pid"
    sport=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$d/server.log")

    timeout 60 python3 "$proxy" 0 "$sport" "$d" >"$d/proxy.log" 2>&1 &
    local proxy_pid=$!
    pids+=("$proxy_pid")
    wait_for "$d/proxy.log" '^LISTENING' "$proxy_pid"
    pport=$(sed -n 's/^LISTENING //p' "$d/proxy.log")

    # One line, then a second's pause for the echo before end of input makes
    # s_client send close_notify and quit.
    { printf '%s\n' "$LINE"; sleep 1; } |
        OPENSSL_CONF=$client_conf timeout 30 openssl s_client -tls1_2 \
            -connect "127.0.0.1:$pport" -servername localhost \
            -CAfile "$kat/ca.pem" -verify_return_error \
            -cipher "$cipher" -no_ticket -nocommands \
            -keylogfile "$d/client.keys" >"$d/client.log" 2>&1 ||
        { cat "$d/client.log" >&2; die "$name: s_client failed"; }
    wait "$proxy_pid" || { cat "$d/proxy.log" >&2; die "$name: proxy failed"; }
    wait "$server_pid" || { cat "$d/server.log" "$d/server.err" >&2; die "$name: s_server failed"; }

    # What OpenSSL says happened.
    local check
    for check in "Cipher is $cipher" "Verify return code: 0 (ok)" \
        "Extended master secret: $want_ems"; do
        grep -qF "$check" "$d/client.log" || {
            cat "$d/client.log" >&2
            die "$name: s_client did not report '$check'"
        }
    done
    local reversed
    reversed=$(python3 -c 'import sys; print(sys.argv[1][::-1])' "$LINE")
    grep -qxF "$reversed" "$d/client.log" || die "$name: the server's echo did not arrive"

    local client_line server_line rsa_line
    client_line=$(grep '^CLIENT_RANDOM ' "$d/client.keys" || true)
    server_line=$(grep '^CLIENT_RANDOM ' "$d/server.keys" || true)
    rsa_line=$(grep '^RSA ' "$d/client.keys" || true)
    [[ -n $client_line && $(wc -l <<<"$client_line") == 1 ]] ||
        die "$name: expected one CLIENT_RANDOM line in s_client's key log"
    [[ -n $rsa_line && $(wc -l <<<"$rsa_line") == 1 ]] ||
        die "$name: expected one RSA line in s_client's key log"
    [[ $client_line == "$server_line" ]] ||
        die "$name: client and server logged different master secrets"

    local out="$kat/$name"
    mkdir -p "$out"
    cp "$d/c2s.bin" "$d/s2c.bin" "$out/"
    {
        echo "# $name: $cipher, extended master secret $want_ems ($ems)."
        echo "# Recorded by scripts/record-kat.sh with $openssl_version."
        echo "# RSA line: s_client's key log. CLIENT_RANDOM line: identical in s_client's and s_server's."
        echo "$rsa_line"
        echo "$client_line"
    } >"$out/keylog.txt"
    echo "record-kat: $name: $cipher, EMS $want_ems, c2s $(wc -c <"$out/c2s.bin") bytes, s2c $(wc -c <"$out/s2c.bin") bytes"
}

for entry in "${SESSIONS[@]}"; do
    # shellcheck disable=SC2086 # the entry is split into its three words on purpose
    record $entry
done
echo "record-kat: done; now run: cargo test -p handshake --test known_answers"
