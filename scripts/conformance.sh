#!/usr/bin/env bash
# npm run conformance: the upstream Gateway API conformance suite (conformance/, GATEWAY-HTTP, GATEWAY-GRPC and
# GATEWAY-TLS) against Weft on the local cluster. Builds or reuses everything, starts the cluster with Weft (`weft dev
# cluster up`: the operator and one agent with its Envoy per node), runs the suite, writes the report under conformance/reports/, and tears
# everything down, also on failure or Ctrl-C. Exits non-zero when any test fails. Needs root (network namespaces).
#
# Arguments are passed to the suite, e.g. --run-test=HTTPRouteWeight or --conformance-profiles=GATEWAY-HTTP.
# Environment: WEFT_CONFORMANCE_NODES (default 1), WEFT_CONFORMANCE_NAME/_SUBNET (default conf, 10.79.0.0/24), WEFT_CONFORMANCE_KEEP=1 keeps the cluster up afterwards,
# WEFT_CONFORMANCE_SKIP_SETUP=1 skips scripts/setup.sh (the build) when it is known to be current,
# WEFT_CONFORMANCE_FEATURES=A,B,... claims only those features (default: Weft's SUPPORTED_FEATURES),
# WEFT_CONFORMANCE_ORGANIZATION/_PROJECT/_URL/_CONTACT set the report's implementation fields (default: from package.json).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf '[conformance] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root: the local cluster is made of network namespaces"; exit 1; }

# A cluster name and subnet of its own, so a developer's `weft dev cluster up` (10.77.0.0/24) is left alone;
# WEFT_CONFORMANCE_NAME and WEFT_CONFORMANCE_SUBNET (a /24) let two runs share the machine.
name=${WEFT_CONFORMANCE_NAME:-conf}
subnet=${WEFT_CONFORMANCE_SUBNET:-10.79.0.0/24}
prefix=${subnet%.0/24}
nodes=${WEFT_CONFORMANCE_NODES:-1}
state="${WEFT_CONFORMANCE_STATE:-$HOME/.local/state/weft/clusters/$name}"
# The GatewayClass `weft dev cluster up` creates.
gateway_class=weft
version=$(node -p 'require("./package.json").version' 2>/dev/null || echo dev)
# The report's implementation fields, from package.json unless the environment sets them: project = name,
# organization = the name's npm scope or else the GitHub owner of `repository`, url = homepage (or repository),
# contact = bugs.url / bugs.email (comma-separated, as the suite's --contact takes it).
pkg() { node -e '
  const p = require("./package.json");
  const repo = String((p.repository && p.repository.url) || p.repository || "").replace(/^git\+/, "").replace(/\.git$/, "");
  const owner = (repo.match(/github\.com[/:]([^/]+)\//) || [])[1];
  const scope = (p.name.match(/^@([^/]+)\//) || [])[1];
  const bugs = typeof p.bugs === "string" ? [p.bugs] : [p.bugs && p.bugs.url, p.bugs && p.bugs.email];
  const v = { project: p.name.replace(/^@[^/]+\//, ""), organization: scope || owner || p.name, url: p.homepage || repo, contact: bugs.filter(Boolean).join(",") };
  console.log(v[process.argv[1]] || "");' "$1" 2>/dev/null; }
organization=${WEFT_CONFORMANCE_ORGANIZATION:-$(pkg organization)}
project=${WEFT_CONFORMANCE_PROJECT:-$(pkg project)}
url=${WEFT_CONFORMANCE_URL:-$(pkg url)}
contact=${WEFT_CONFORMANCE_CONTACT:-$(pkg contact)}
impl_flags=()
for field in organization project url contact; do [ -z "${!field}" ] || impl_flags+=("--$field=${!field}"); done

[ "${WEFT_CONFORMANCE_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh
export PATH="$root/node_modules/.bin:$root/node_modules/node/bin:$PATH"
bash scripts/k8s-binaries.sh >/dev/null
bash scripts/echo-basic.sh >/dev/null
bash scripts/coredns.sh >/dev/null

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # The cluster's logs (control plane, kubelets, operator, agents) outlive it.
  [ -d "$state/logs" ] && [ -d "${logs:-}" ] && cp -r "$state/logs/." "$logs/" 2>/dev/null || true
  if [ "${WEFT_CONFORMANCE_KEEP:-}" = 1 ]; then
    say "cluster $name kept (KUBECONFIG=$state/kubeconfig); bin/weft dev cluster down --name $name --subnet $subnet"
  else
    bin/weft dev cluster down --name "$name" --subnet "$subnet" --state-dir "$state" 2>&1 | sed 's/^/[cluster] /' >&2 || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A cluster left by an interrupted run is removed first.
bin/weft dev cluster down --name "$name" --subnet "$subnet" --state-dir "$state" >/dev/null 2>&1 || true
mkdir -p "$(dirname "$state")"
# `up` also starts Weft: the operator, one agent (with its Envoy and the datapath) per node, the GatewayClass weft.
say "starting the local cluster ($nodes node(s), $subnet) with Weft"
kubeconfig=$(bin/weft dev cluster up --name "$name" --subnet "$subnet" --state-dir "$state" --nodes "$nodes" 2>"$state.up.log") \
  || { cat "$state.up.log" >&2; exit 1; }
export KUBECONFIG=$kubeconfig
# Logs and the suite's output outlive the cluster (down removes its state directory; cleanup copies its logs here).
logs="$state-logs"
rm -rf "$logs"
mkdir -p "$logs"

# Weft's one list of claimed features (also published on the GatewayClass status); WEFT_CONFORMANCE_FEATURES narrows
# it (CI: the core features only, so that only the core tests of a profile run).
features=${WEFT_CONFORMANCE_FEATURES:-$(node --input-type=module -e "import('$root/dist/src/gateway/translate.js').then((m) => console.log(m.SUPPORTED_FEATURES.join(',')))")}
# A focused run (any argument) writes its report next to the cluster state, not over the published one.
report="$root/conformance/reports/v1.6.1-weft-$version-report.yaml"
[ $# -eq 0 ] || report="$state-logs/conformance-report.yaml"
out="$logs/conformance-output.txt"
# GatewayStaticAddresses puts one usable and one unusable address in a Gateway's spec.addresses: an unused address
# of the cluster subnet (outside the pool; the agent announces it on eth0) and a multicast one, which a listener
# cannot serve (AddressNotUsable).
usable_address="$prefix.199"
unusable_address=224.0.0.1
say "running the suite (output in $out)"
set +e
(cd conformance && GOFLAGS=-buildvcs=false go test -count=1 -timeout 30m -run TestConformance -v . -args \
  --gateway-class="$gateway_class" \
  --supported-features="$features" \
  --conformance-profiles=GATEWAY-HTTP,GATEWAY-GRPC,GATEWAY-TLS \
  --report-output="$report" \
  --version="$version" \
  "${impl_flags[@]}" \
  --usable-address="$usable_address" \
  --unusable-address="$unusable_address" \
  "$@") 2>&1 | tee "$out" | grep -E '^ {0,4}--- (PASS|FAIL)|^(FAIL|ok|PASS)' >&2
status=${PIPESTATUS[0]}
set -e
passed=$(grep -cE '^\s*--- PASS: TestConformance/[^/ ]+ ' "$out" || true)
failed=$(grep -cE '^\s*--- FAIL: TestConformance/[^/ ]+ ' "$out" || true)
say "$passed tests passed, $failed failed; report: $report"
exit "$status"
