#!/usr/bin/env bash
# The whole test suite: setup, lint, then every ava test (against the real Envoy).
# Ends with one summary line, "N passed, N failed, N skipped", that CI reads.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# The Kubernetes tests run the real control plane, built from its Go modules (tens of minutes the first time,
# cached outside the repository). They need root for network namespaces, so only then is it worth building.
if [ "$(id -u)" = 0 ]; then
  echo "[test] building or reusing the local cluster's Kubernetes binaries"
  bash scripts/k8s-binaries.sh >/dev/null || { echo "k8s binaries: 0 passed, 1 failed"; exit 1; }
fi
# The Helm chart's tools (helm, kubeconform), built from their Go modules once and cached like the above.
echo "[test] building or reusing helm and kubeconform"
bash scripts/helm-tools.sh >/dev/null || { echo "helm tools: 0 passed, 1 failed"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"
eslint . || { echo "lint: 0 passed, 1 failed"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ava "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
count() { grep -Eo "^\s*[0-9]+ (tests?|known failures?) $1" "$log" | grep -Eo '[0-9]+' | head -1; }
passed=$(count passed); failed=$(count failed); skipped=$(count skipped)
# With failures ava prints no "N tests passed" line: count the passing tests' check marks instead.
[ -n "$passed" ] || passed=$(grep -Ec '^\s*✔' "$log")
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit "$status"
