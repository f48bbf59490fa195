#!/usr/bin/env bash
# Installs the peers the benchmarks compare netbpf with, as root, idempotently: BCC 0.26 and its
# Python module, pyroute2 (BCC's examples drive tc through it), bpftool, and the kernel headers
# BCC compiles against. This kernel ships none: Debian 12's linux-headers-6.1 are enough for
# BCC's networking programs and are linked as /lib/modules/$(uname -r)/build and /source
# (../shared/kernel.md). Run by benchmarks/run.sh after scripts/setup.sh.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../scripts/apt.sh"
install_missing setup-peers bpfcc-tools python3-bpfcc python3-pyroute2 bpftool

modules="/lib/modules/$(uname -r)"
headers_present() { [ -e "$modules/build/include/generated/autoconf.h" ] && [ -e "$modules/source/include/linux/kconfig.h" ]; }
newest_installed() { ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sort -V | tail -1 || true; }

if ! headers_present; then
  headers=$(newest_installed)
  if [ -z "$headers" ]; then
    apt-get update -qq
    # The newest Debian 12 amd64 header package (its -common package comes with it).
    package=$(apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
    if [ -z "$package" ]; then
      echo "setup-peers: no linux-headers-6.1.0-*-amd64 package found: BCC will not run" >&2
      exit 1
    fi
    echo "setup-peers: installing $package for BCC"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
    headers=/usr/src/$package
  fi
  mkdir -p "$modules"
  for link in build source; do
    if [ -e "$modules/$link" ] && [ ! -L "$modules/$link" ]; then
      echo "setup-peers: $modules/$link exists and is not a link; leaving it" >&2
      exit 1
    fi
  done
  ln -sfn "$headers" "$modules/build"
  ln -sfn "${headers%-amd64}-common" "$modules/source"
fi
