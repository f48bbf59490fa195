#!/usr/bin/env bash
# The whole test suite: set-up, build, then every test (unit and kernel) run one at a time,
# since kernel tests count file descriptors and create namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build --no-parallel "$@"
