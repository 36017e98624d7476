#!/usr/bin/env bash
# Compiles bpf/*.c into bpf/build/*.o against a vmlinux.h generated from the running kernel's BTF.
# Called by scripts/setup.sh; rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p build
if [ ! -s build/vmlinux.h ] || [ /sys/kernel/btf/vmlinux -nt build/vmlinux.h ]; then
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > build/vmlinux.h.tmp
  mv build/vmlinux.h.tmp build/vmlinux.h
fi
for src in *.c; do
  obj="build/${src%.c}.o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ build/vmlinux.h -nt "$obj" ]; then
    clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I build -c "$src" -o "$obj.tmp"
    mv "$obj.tmp" "$obj"
  fi
done
