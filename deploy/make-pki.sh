#!/usr/bin/env bash
# Makes the lab PKI that deploy/base turns into Secrets: a CA and the RSA and
# ECDSA server certificates of server-svc (`server-svc pki init`), valid for
# every name client-svc may check in the cluster, and for localhost (port-forward).
#
#   deploy/make-pki.sh                 # with cargo: writes deploy/base/pki
#   deploy/make-pki.sh --image IMG     # with the server-svc image instead (docker)
#   deploy/make-pki.sh --out DIR       # elsewhere (scripts/validate-deploy.sh)
#   deploy/make-pki.sh --force         # replace an existing PKI
#
# The names are in the namespace of deploy/base/kustomization.yaml (or
# $NAMESPACE). ca.key stays here: no manifest takes it into the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

NAMESPACE=${NAMESPACE:-$(sed -n 's/^namespace: *//p' deploy/base/kustomization.yaml)}
[ -n "$NAMESPACE" ] || { echo "error: no namespace in deploy/base/kustomization.yaml" >&2; exit 1; }
out=deploy/base/pki
image=""
force=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --image) image=${2:?--image needs an image name}; shift 2 ;;
    --force) force=(--force); shift ;;
    *) echo "error: unknown argument $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

# The name client-svc checks is server-svc.$NAMESPACE.svc (CLIENT_SVC_SERVER_NAME
# in base/client-svc/settings.env); the others let a lab call server-svc by
# any of its Service names, or through `kubectl port-forward` as localhost.
names=localhost
for svc in server-svc server-svc-headless; do
  names+=",$svc,$svc.$NAMESPACE,$svc.$NAMESPACE.svc,$svc.$NAMESPACE.svc.cluster.local"
done

mkdir -p "$out"
if [ -n "$image" ]; then
  command -v docker >/dev/null || { echo "error: --image needs docker" >&2; exit 1; }
  # As the calling user, so the files (keys mode 0600) are yours.
  docker run --rm --user "$(id -u):$(id -g)" -v "$(cd "$out" && pwd):/pki" "$image" \
    pki init --out /pki --name "$names" "${force[@]}"
else
  command -v cargo >/dev/null || { echo "error: cargo not found: install Rust, or use --image" >&2; exit 1; }
  cargo run -q --locked -p server-svc -- pki init --out "$out" --name "$names" "${force[@]}"
fi
