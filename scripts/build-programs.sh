#!/usr/bin/env bash
# Compiles every programs/*.bpf.c with Debian's clang-14 into .build-programs/ (only those whose
# source or shared headers changed). Used until all callers go through the in-process compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build-programs
mkdir -p "$out"
for src in programs/*.bpf.c; do
  obj="$out/$(basename "${src%.c}").o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find programs/include -newer "$obj" -type f 2>/dev/null)" ]; then
    clang-14 -O2 -g -target bpf -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu -Iprograms/include \
      -Wall -Wno-unused-function -c "$src" -o "$obj"
  fi
done
