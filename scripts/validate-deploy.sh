#!/usr/bin/env bash
# Validates deploy/ offline, without a cluster (scripts/test.sh runs it):
#   1. a throwaway lab PKI (deploy/make-pki.sh, with the server-svc built here)
#   2. `kubectl kustomize` renders base, overlays/lab, overlays/scale and load
#   3. kubernetes-validate --strict accepts every rendered object for the three
#      newest Kubernetes minors it ships (found in the package, not listed here)
#   4. checkov (kubernetes, dockerfile) reports no failed check; a skip is an
#      annotation or comment with its reason next to the object
#   5. scripts/deploy_checks.py: the objects fit together and fit the binaries,
#      and components/prometheus-operator (rendered on the lab and the scale
#      overlay, as deploy/README.md adds it) adds PodMonitors that fit the
#      pods: their CRD has no schema in kubernetes-validate, so they are
#      checked there
#   6. the Grafana dashboard: scripts/dashboard_check.py's unit tests, and the
#      dashboard itself: valid JSON, every panel target has an expr, and every
#      series it names is in tests/deploy/obs-spec.openmetrics (a hand-written sample of the families in service-runtime/src/metrics.rs;
#      the live check against real scrapes is in tests/observe)
# Tools come from PyPI at the versions pinned in deploy/requirements-validate.txt,
# in a venv under .tools/ that is made again when that file changes.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "validate-deploy: $*" >&2; }
fail() { say "error: $*"; exit 1; }

requirements=deploy/requirements-validate.txt
venv=.tools/deploy-venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  command -v python3 >/dev/null || fail "python3 not found: needed for the validation tools"
  say "installing the pinned validation tools from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
fi
bin="$PWD/$venv/bin"
openssl="$(./scripts/tools.sh openssl >/dev/null && command -v openssl)"

# The binaries: make-pki.sh runs server-svc, the checks read both --help.
cargo build -q --locked -p server-svc -p client-svc
# shellcheck source=lib.sh
source scripts/lib.sh
target=$(target_dir)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy of deploy/, so a PKI of your own in deploy/base/pki is neither used
# nor touched.
cp -r deploy "$work/deploy"
rm -rf "$work/deploy/base/pki"
say "making a throwaway lab PKI"
deploy/make-pki.sh --out "$work/deploy/base/pki" >/dev/null

rendered="$work/rendered"
mkdir "$rendered"
for dir in base overlays/lab overlays/scale load; do
  say "kubectl kustomize deploy/$dir"
  "$bin/kubectl" kustomize "$work/deploy/$dir" >"$rendered/$(basename "$dir").yaml"
done
# The optional component, added to each overlay the way deploy/README.md
# shows. Rendered outside $rendered: kubernetes-validate has no schema for
# PodMonitor (and would warn); deploy_checks.py checks them instead, and that
# everything else is the overlay's own render, which is validated below.
operator="$work/operator"
mkdir "$operator"
for overlay in lab scale; do
  mkdir "$work/deploy/overlays/$overlay-operator"
  cat >"$work/deploy/overlays/$overlay-operator/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../$overlay
components:
  - ../../components/prometheus-operator
EOF
  say "kubectl kustomize deploy/overlays/$overlay with components/prometheus-operator"
  "$bin/kubectl" kustomize "$work/deploy/overlays/$overlay-operator" >"$operator/$overlay.yaml"
done

versions=$("$bin/python" - <<'EOF'
from kubernetes_validate.utils import all_versions, major_minor
minors = sorted({major_minor(v) for v in all_versions()},
                key=lambda v: tuple(int(x) for x in v.split(".")))
print(" ".join(minors[-3:]))
EOF
)
say "kubernetes-validate --strict for Kubernetes $versions"
for v in $versions; do
  # --quiet prints only problems; a WARN (e.g. a kind or apiVersion with no
  # schema) fails too, where kubernetes-validate itself would pass it.
  out=$("$bin/kubernetes-validate" --strict --quiet -k "$v" "$rendered"/*.yaml) \
    || { echo "$out"; fail "kubernetes-validate rejected the manifests for $v"; }
  [ -z "$out" ] || { echo "$out"; fail "kubernetes-validate warned for $v"; }
done

say "checkov (kubernetes, dockerfile)"
cp deploy/Dockerfile "$rendered/Dockerfile"
# --skip-download: no policies or metadata from any platform, offline.
"$bin/checkov" --quiet --compact --skip-download --framework kubernetes dockerfile \
  -d "$rendered" || fail "checkov found failed checks (above)"

say "the wiring of the objects (scripts/deploy_checks.py)"
"$bin/python" scripts/deploy_checks.py "$rendered" \
  "$target/debug/server-svc" "$target/debug/client-svc" "$openssl" \
  "$operator" \
  || fail "deploy/ does not fit together (above)"

say "the Grafana dashboard (scripts/dashboard_check.py and its tests)"
"$bin/python" -m unittest discover -s tests/deploy -p 'test_*.py' \
  || fail "scripts/dashboard_check.py's tests failed (above)"
"$bin/python" scripts/dashboard_check.py deploy/grafana/handshake.json \
  tests/deploy/obs-spec.openmetrics \
  || fail "deploy/grafana/handshake.json names a series the services do not export (above)"
say "ok"
