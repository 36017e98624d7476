#!/usr/bin/env bash
# Builds the Gateway API conformance echo backend (package echo-basic of the module sigs.k8s.io/gateway-api/conformance,
# a module of its own since v1.5, at the version in
# src/sources/GATEWAY_API_VERSION) into a cache outside the repository, for the local cluster's kubelet, which runs
# it for the image gcr.io/k8s-staging-gateway-api/echo-basic (or registry.k8s.io/gateway-api/echo-basic).
# Prints the binary's path. Idempotent: only the first run builds.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version=$(cat "$here/src/sources/GATEWAY_API_VERSION")
cache="${WEFT_CACHE_DIR:-$HOME/.cache/weft}"
out="$cache/echo-basic"
bin="$out/echo-basic"
stamp="$out/version"
if [[ -x "$bin" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
# The conformance module requires the main module at a placeholder version it replaces with ../ (not seen by
# consumers): pin it to the same release.
(cd "$work" && go mod init weft.dev/echo-basic >/dev/null 2>&1 &&
  go mod edit -replace "sigs.k8s.io/gateway-api=sigs.k8s.io/gateway-api@$version" &&
  go get "sigs.k8s.io/gateway-api/conformance@$version" >&2 &&
  go build -trimpath -o "$bin.tmp" sigs.k8s.io/gateway-api/conformance/echo-basic)
mv "$bin.tmp" "$bin"
echo "$version" >"$stamp"
echo "$bin"
