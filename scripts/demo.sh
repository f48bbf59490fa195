#!/usr/bin/env bash
# The demo: set-up, build, then load a tracepoint program and watch its map fill.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --product netbpf
swift build --product NetBPFClang
exec .build/debug/netbpf demo --program programs/demo_syscalls.bpf.c "$@"
