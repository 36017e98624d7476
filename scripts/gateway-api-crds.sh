#!/usr/bin/env bash
# Fetches the Gateway API CRDs (standard and experimental channels) from the sigs.k8s.io/gateway-api Go
# module, through the Go module proxy, into .cache/gateway-api/<version>/crd/. Weft checks manifests
# against their schemas for unknown fields (as `kubectl apply --validate=strict` would). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(cat src/sources/GATEWAY_API_VERSION)
out=.cache/gateway-api/$version/crd
[ -f "$out/standard/gateway.networking.k8s.io_httproutes.yaml" ] && [ -f "$out/experimental/gateway.networking.k8s.io_httproutes.yaml" ] && exit 0
if ! command -v go >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "[setup] go is needed to fetch the Gateway API CRDs (apt-get install golang-go)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$version" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error){console.error(j.Error);process.exit(1)}console.log(j.Dir)})')
for channel in standard experimental; do
  mkdir -p "$out/$channel"
  cp "$dir"/config/crd/$channel/gateway.networking*.yaml "$out/$channel"/
  chmod u+w "$out/$channel"/*.yaml
done
