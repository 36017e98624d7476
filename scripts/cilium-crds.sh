#!/usr/bin/env bash
# Fetches Cilium's cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy CRDs from the
# github.com/cilium/cilium Go module, through the Go module proxy, into .cache/cilium/<version>/crds/.
# The local cluster installs them, so users' Cilium policies are validated by Cilium's own schema. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(cat src/sources/CILIUM_VERSION)
out=.cache/cilium/$version/crds
names=(ciliumnetworkpolicies ciliumclusterwidenetworkpolicies)
[ -f "$out/${names[0]}.yaml" ] && [ -f "$out/${names[1]}.yaml" ] && exit 0
dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/cilium/cilium@$version" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')
mkdir -p "$out"
for n in "${names[@]}"; do
  cp "$dir/pkg/k8s/apis/cilium.io/client/crds/v2/$n.yaml" "$out/$n.yaml"
  chmod u+w "$out/$n.yaml"
done
