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
passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}
# A test still pending when ava's timeout struck failed, though ava counts it apart (CI once read 0 failed).
pending=$(grep -Eo '^\s*[0-9]+ tests? remained pending after a timeout' "$log" | grep -Eo '[0-9]+' | head -1)
failed=$((failed + ${pending:-0}))
# ava failing with nothing counted as failed (an internal error, a file that failed to exit) is a failure too.
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi

# The upstream Gateway API conformance suite's core GATEWAY-HTTP tests against Weft on the local cluster (as root,
# with the binaries built above; about 4 minutes). Each of its tests counts in the summary. WEFT_TEST_CONFORMANCE=0
# leaves it out (e.g. when running a few ava files by hand).
if [ "$(id -u)" = 0 ] && [ "${WEFT_TEST_CONFORMANCE:-1}" = 1 ] && [ $# -eq 0 ]; then
  echo "[test] Gateway API conformance: core GATEWAY-HTTP (scripts/conformance.sh)"
  WEFT_CONFORMANCE_SKIP_SETUP=1 WEFT_CONFORMANCE_NAME=ci WEFT_CONFORMANCE_SUBNET=10.80.0.0/24 \
    WEFT_CONFORMANCE_FEATURES=Gateway,HTTPRoute,ReferenceGrant \
    bash scripts/conformance.sh --conformance-profiles=GATEWAY-HTTP 2>&1 | tee -a "$log"
  conformance_status=${PIPESTATUS[0]}
  line=$(grep -oE '\[conformance\] [0-9]+ tests passed, [0-9]+ failed' "$log" | tail -1)
  c_passed=$(echo "$line" | grep -oE '[0-9]+' | sed -n 1p)
  c_failed=$(echo "$line" | grep -oE '[0-9]+' | sed -n 2p)
  passed=$((passed + ${c_passed:-0}))
  # A run that failed before any test (the cluster did not start) counts as one failure.
  if [ "$conformance_status" != 0 ]; then failed=$((failed + ${c_failed:-0})); [ "${c_failed:-0}" -gt 0 ] || failed=$((failed + 1)); status=1; fi
fi
# CI shows only parts of a long log: name what failed again just above the summary.
if [ "$failed" != 0 ]; then
  echo "[test] what failed:"
  grep -E '^\s*(✘|◌)|--- FAIL:|Failed to exit when running|tests? were pending in' "$log" | sed 's/^\s*/  /' | sort -u | head -40
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
