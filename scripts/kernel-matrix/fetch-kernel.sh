#!/usr/bin/env bash
# Fetches Debian 12's own 6.1 kernel package once and extracts what the matrix guest needs:
# vmlinuz, config, and the modules named in MODULES below (with their dependencies).
# The package name is looked up (linux-image-amd64 depends on linux-image-6.1.0-NN-amd64);
# the .deb and the extracted tree are cached under $NETBPF_KERNEL_CACHE
# (default /var/cache/netbpf-kernel-matrix: not under /var/cache/netbpf, netbpf's compile cache,
# which tests clear). Prints the extracted directory on stdout.
# Exit 2 with one line on stderr when the package cannot be found or fetched.
set -euo pipefail

cache=${NETBPF_KERNEL_CACHE:-/var/cache/netbpf-kernel-matrix}
mkdir -p "$cache"
cd "$cache"

fail() { echo "fetch-kernel: $*" >&2; exit 2; }

# The versioned image package behind the meta package, e.g. linux-image-6.1.0-57-amd64.
# A cached extraction is used when apt cannot answer (offline machine, no lists yet).
package=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1 || true)
if [ -z "$package" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1 || true)
fi
if [ -z "$package" ]; then
  cached=$(ls -d linux-image-*-amd64/ 2>/dev/null | tail -1 || true)
  [ -n "$cached" ] && [ -f "$cached/ready" ] || fail "apt-cache does not know linux-image-amd64 and nothing is cached in $cache (hint: apt-get update)"
  echo "$cache/${cached%/}"
  exit 0
fi

tree="$cache/$package"
if [ -f "$tree/ready" ]; then echo "$tree"; exit 0; fi

deb=$(ls "$package"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
  apt-get download "$package" >/dev/null 2>"$cache/download.err" \
    || { apt-get update -qq >/dev/null 2>&1; apt-get download "$package" >/dev/null 2>"$cache/download.err"; } \
    || fail "apt-get download $package failed: $(tail -1 "$cache/download.err")"
  deb=$(ls "$package"_*.deb 2>/dev/null | head -1 || true)
  [ -n "$deb" ] || fail "apt-get download $package left no .deb in $cache"
fi

# Only the kernel, its config and the module directories the guest loads from (~11 MB of 70).
rm -rf "$tree.tmp" && mkdir -p "$tree.tmp"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree.tmp" --wildcards \
  './boot/vmlinuz-*' './boot/config-*' \
  './lib/modules/*/kernel/drivers/virtio' './lib/modules/*/kernel/drivers/net/veth.ko*' \
  './lib/modules/*/kernel/drivers/net/vxlan' \
  './lib/modules/*/kernel/drivers/net/dummy.ko*' \
  './lib/modules/*/kernel/net/9p' './lib/modules/*/kernel/fs/9p' './lib/modules/*/kernel/fs/netfs' \
  './lib/modules/*/kernel/fs/fscache' './lib/modules/*/kernel/net/sched' './lib/modules/*/kernel/net/8021q' \
  './lib/modules/*/kernel/net/802' './lib/modules/*/kernel/net/llc' './lib/modules/*/kernel/net/bridge/bridge.ko*' \
  './lib/modules/*/kernel/net/ipv4/udp_tunnel.ko*' './lib/modules/*/kernel/net/ipv6/ip6_udp_tunnel.ko*' \
  2>"$cache/extract.err" || fail "extracting $deb failed: $(tail -1 "$cache/extract.err")"
ls "$tree.tmp"/boot/vmlinuz-* >/dev/null 2>&1 || fail "$deb holds no /boot/vmlinuz-*"
touch "$tree.tmp/ready"
rm -rf "$tree" && mv "$tree.tmp" "$tree"
echo "$tree"
