#!/usr/bin/env bash
# The demo: set-up, build, then a simulated network with the rate limiter and the HTTP filter
# under real traffic, their reports, and a full teardown (netbpf demo; docs/getting-started.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --product netbpf
swift build --product netbpf-cc
exec .build/debug/netbpf demo "$@"
