#!/usr/bin/env bash
# Installs the peers the benchmarks compare netbpf with, as root, idempotently: BCC 0.26 and its
# Python module, pyroute2 (BCC's examples drive tc through it), bpftool, and the kernel headers
# BCC compiles against. This kernel ships none: Debian 12's linux-headers-6.1 are enough for
# BCC's networking programs and are linked as /lib/modules/$(uname -r)/build and /source
# (../shared/kernel.md). Sourced by benchmarks/run.sh after scripts/setup.sh.
set -euo pipefail

peer_packages=(bpfcc-tools python3-bpfcc python3-pyroute2 bpftool)
missing=()
for p in "${peer_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

modules="/lib/modules/$(uname -r)"
headers_present() { [ -e "$modules/build/include/generated/autoconf.h" ] && [ -e "$modules/source/include/linux/kconfig.h" ]; }

if [ ${#missing[@]} -gt 0 ] || ! headers_present; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-peers: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! headers_present; then
  # The newest Debian 12 amd64 header package (its -common package comes with it).
  headers=$(apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
  [ -n "$headers" ] || { echo "setup-peers: no linux-headers-6.1.0-*-amd64 package found" >&2; exit 1; }
  echo "setup-peers: installing $headers for BCC"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$headers" >/dev/null
  mkdir -p "$modules"
  ln -sfn "/usr/src/$headers" "$modules/build"
  ln -sfn "/usr/src/${headers%-amd64}-common" "$modules/source"
fi
