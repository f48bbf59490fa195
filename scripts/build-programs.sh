#!/usr/bin/env bash
# Compiles every programs/*.bpf.c into .build-programs/ with netbpf's own compiler (cached, so
# only changed programs are rebuilt). Usage: scripts/build-programs.sh [NETBPF_BINARY]
# maps_only.bpf.c has no program on purpose and is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
netbpf=${1:-.build/debug/netbpf}
mkdir -p .build-programs
for src in programs/*.bpf.c; do
  [ "$src" = programs/maps_only.bpf.c ] && continue
  "$netbpf" compile "$src" -o ".build-programs/$(basename "${src%.c}").o"
done
