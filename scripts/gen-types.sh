#!/usr/bin/env bash
# Generates TypeScript types for the Envoy API messages Weft builds, from the .proto tree that
# @grpc/grpc-js-xds ships, and the Gateway API kinds' schema validators, from their CRDs. Generated at build
# time (like vmlinux.h) rather than committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/generated
deps=node_modules/@grpc/grpc-js-xds/deps
stamp=$out/.stamp
roots=$(tr '\n' ' ' < src/xds/proto-roots.txt)
want="$(cat package-lock.json src/xds/proto-roots.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
rm -rf "$out"
node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --keepCase --longs=String --enums=String --defaults --oneofs --json --includeComments=false \
  --grpcLib=@grpc/grpc-js --importFileExtension=.js \
  -I "$deps/envoy-api" -I "$deps/xds" -I "$deps/googleapis" -I "$deps/protoc-gen-validate" \
  -O "$out" $roots >/dev/null
# The per-root package files are only for grpc clients built from them; Weft does not use them.
rm -f "$out"/*.ts
echo "$want" > "$stamp"
fi

# Schema validators of the Gateway API kinds, from the CRDs (scripts/gateway-api-crds.sh fetches them): the code
# into dist (see the generator), its types into src/generated.
bash scripts/gateway-api-crds.sh
crds=.cache/gateway-api/$(cat src/sources/GATEWAY_API_VERSION)/crd/experimental
vstamp=$out/.validators-stamp
vwant="$(cat package-lock.json scripts/gen-gateway-validators.js "$crds"/*.yaml | sha256sum | cut -d' ' -f1)"
vjs=dist/src/generated/gateway-validators.js
if [ ! -f "$vstamp" ] || [ "$(cat "$vstamp")" != "$vwant" ] || [ ! -f "$vjs" ]; then
  node scripts/gen-gateway-validators.js "$crds" "$vjs" "$out/gateway-validators.d.ts" >/dev/null
  echo "$vwant" > "$vstamp"
fi
