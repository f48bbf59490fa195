#!/usr/bin/env bash
# The one release build install.sh, package-deb.sh and install-test.sh share: netbpf and the
# compiler helper netbpf-cc, with the Swift runtime linked in (--static-swift-stdlib: the
# installed netbpf needs no Swift toolchain), the commit recorded for `netbpf --version`.
# Prints the folder holding the two executables. SwiftPM rebuilds only what changed, so a
# second call after the first costs a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-info.sh
trap 'bash scripts/build-info.sh --clear' EXIT
for product in netbpf netbpf-cc; do
  swift build -c release --static-swift-stdlib --product "$product" >&2
done
swift build -c release --static-swift-stdlib --show-bin-path
