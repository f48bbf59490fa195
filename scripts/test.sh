#!/usr/bin/env bash
# The whole test suite: set-up, the fuzz targets for a bounded time, build (netbpf and the examples
# package), then every test (unit and kernel) run one at a time, since kernel tests count file
# descriptors and create namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"   # bounded fuzzing first, so swift test's summary ends the output
[ $# -gt 0 ] || bash scripts/smoke.sh   # documented scripts (install test, benchmarks RUNS=1, tunnel lab), bounded; not with a filter
swift build --build-tests
# The examples package, built as an outside consumer builds it (its tests are ExamplesTests).
swift build --package-path examples
swift test --skip-build --no-parallel "$@"
