#!/usr/bin/env bash
# Builds the libbpf addon (build/Release/weft_bpf.node) with node-gyp against the system's Node headers
# (N-API is ABI-stable, so it loads in the Node 24 that runs Weft). Called by scripts/setup.sh; does
# nothing when the addon is newer than its sources.
set -euo pipefail
cd "$(dirname "$0")"
out=build/Release/weft_bpf.node
if [ -f "$out" ] && [ "$out" -nt weft_bpf.c ] && [ "$out" -nt binding.gyp ]; then exit 0; fi
gyp=""
for candidate in /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js \
                 /usr/share/nodejs/node-gyp/bin/node-gyp.js; do
  if [ -f "$candidate" ]; then gyp=$candidate; break; fi
done
# The system Node and its headers: the nodedir is the prefix holding include/node/node_api.h.
sysnode=$(command -v -p node || true)
[ -x /usr/bin/node ] && sysnode=/usr/bin/node
nodedir=/usr
[ -f /usr/local/include/node/node_api.h ] && [ ! -f /usr/include/node/node_api.h ] && nodedir=/usr/local
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ -n "$gyp" ] && [ -n "$sysnode" ]; then
  "$sysnode" "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
else
  npm exec --yes=false -- node-gyp rebuild --nodedir="$nodedir" --loglevel=warn >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
test -f "$out"
