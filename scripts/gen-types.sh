#!/usr/bin/env bash
# Generates TypeScript types for the Envoy API messages Weft builds, from the .proto tree that
# @grpc/grpc-js-xds ships. Generated at build time (like vmlinux.h) rather than committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/generated
deps=node_modules/@grpc/grpc-js-xds/deps
stamp=$out/.stamp
roots=$(tr '\n' ' ' < src/xds/proto-roots.txt)
want="$(cat package-lock.json src/xds/proto-roots.txt | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
rm -rf "$out"
node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --keepCase --longs=String --enums=String --defaults --oneofs --json --includeComments=false \
  --grpcLib=@grpc/grpc-js --importFileExtension=.js \
  -I "$deps/envoy-api" -I "$deps/xds" -I "$deps/googleapis" -I "$deps/protoc-gen-validate" \
  -O "$out" $roots >/dev/null
# The per-root package files are only for grpc clients built from them; Weft does not use them.
rm -f "$out"/*.ts
echo "$want" > "$stamp"
