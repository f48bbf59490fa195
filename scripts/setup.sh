#!/usr/bin/env bash
# Prepares a Debian 12 machine for netbpf, as root, idempotently: installs the Debian packages
# that are missing (one apt-get update, only when something is missing), mounts bpffs and
# tracefs when they are not mounted, and checks for the Swift toolchain.
set -euo pipefail

packages=(
  libbpf-dev libmnl-dev libpcap-dev linux-libc-dev pkg-config   # libraries netbpf links
  libelf-dev zlib1g-dev  # what libbpf links, named for the fuzz targets that link it by hand (scripts/fuzz.sh)
  clang-14 llvm-14-dev libclang-14-dev libclang-common-14-dev  # BPF C compiler
  bpftool iproute2 iputils-ping iperf3 curl netcat-openbsd tcpdump python3  # peers and traffic
  libbpf-tools gcc  # tracing peers compared in the tests, and the uprobe test target
  bpfcc-tools  # BCC's programs, the corpus BCC mode is measured on (BCCCompatTests, docs/bcc-c.md)
  qemu-system-x86 busybox-static kmod jq  # the kernel matrix: Debian's 6.1 booted under qemu (docs/kernels.md)
  tshark  # reads the pcap-ng files of `netbpf capture` in its tests (debconf question answered by apt.sh's noninteractive default)
  etcd-server prometheus openssl  # the fleet: desired state store, scraper, and the PKI of `netbpf fleet pki` (docs/fleet.md)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (apt-get, mount and BPF need it)" >&2
  exit 1
fi

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
install_missing setup "${packages[@]}"

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    export PATH=/opt/swift/usr/bin:$PATH
  else
    echo "setup: no Swift toolchain found (expected swift on PATH or /opt/swift/usr/bin/swift)" >&2
    exit 1
  fi
fi
