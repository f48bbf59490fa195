#!/usr/bin/env bash
# Builds the Debian package of netbpf, as root, from this checkout:
#   bash scripts/package-deb.sh [OUTDIR]        # default out/; prints the .deb's path
# then `apt-get install ./out/netbpf_VERSION_amd64.deb`. The files are scripts/install.sh's with
# PREFIX=/usr (man pages gzipped, zsh completions in vendor-completions), staged with DESTDIR.
# The version is NetBPFVersion.number (Sources/NetBPFCLI/Version.swift), the one
# `netbpf --version` prints; NETBPF_DEB_VERSION overrides it. Depends are what the binary links (ldd, each
# library's Debian package at the installed version or newer), libpcap0.8 (opened on first use
# of --pcap) and the headers a compile reads: libbpf-dev (<bpf/bpf_helpers.h>) and linux-libc-dev
# (<linux/*.h>). clang's own headers (<stddef.h>) are shipped in /usr/lib/netbpf/clang rather than
# depending on libclang-common-14-dev, which pulls in libllvm14. The Swift runtime is linked in and
# netbpf-cc is a static executable, so neither brings a dependency.
# NETBPF_BIN_DIR reuses executables already built by scripts/release-build.sh;
# NETBPF_DEB_COMPRESSION chooses dpkg-deb's compression (below).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)

source scripts/setup.sh
bin=${NETBPF_BIN_DIR:-$(bash scripts/release-build.sh)}

version=${NETBPF_DEB_VERSION:-$(sed -n 's/.*static let number = "\(.*\)".*/\1/p' Sources/NetBPFCLI/Version.swift)}
[ -n "$version" ] || { echo "package-deb: no version found in Sources/NetBPFCLI/Version.swift" >&2; exit 1; }
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
DESTDIR="$stage" NETBPF_BIN_DIR="$bin" bash scripts/install.sh /usr >/dev/null

doc="$stage/usr/share/doc/netbpf"
cat > "$doc/copyright" <<'TEXT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: netbpf
Comment: netbpf's sources declare no licence of their own yet. The BPF programs under
 /usr/share/netbpf declare theirs to the kernel in their "license" section (GPL or
 "Dual BSD/GPL"). The Swift runtime linked into /usr/bin/netbpf is Apache-2.0 with the
 Runtime Library Exception; swift-argument-parser and Yams, linked in too, are Apache-2.0 and MIT.
TEXT
chmod 0644 "$doc/copyright"

# Depends: the Debian package of every shared library the binary needs.
depends=()
while read -r lib; do
  pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1 || true)
  [ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1 || true)
  [ -n "$pkg" ] || { echo "package-deb: no Debian package owns $lib (needed by netbpf)" >&2; exit 1; }
  ver=$(dpkg-query -W -f='${Version}' "$pkg")
  depends+=("$pkg (>= ${ver%-*})")
done < <(ldd "$bin/netbpf" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
depends+=("libpcap0.8" "libbpf-dev" "linux-libc-dev")
depends_line=$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g')

mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<TEXT
Package: netbpf
Version: $version
Architecture: $arch
Maintainer: netbpf developers <netbpf@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends_line
Section: net
Priority: optional
Homepage: https://github.com/netbpf/netbpf
Description: BPF networking toolkit: compile, attach, simulate, trace
 netbpf compiles BPF C with clang 14 (kernel types from BTF, no kernel
 headers), attaches tc, tcx, XDP and socket programs with records of what it
 did, runs controllers (rate limiter, HTTP filter, VLAN learning, tunnel
 monitor, distributed bridge), builds simulated networks from topology files,
 and ships tracing tools (execsnoop, opensnoop, runqlat, tcplife, ...).
TEXT

# Maintainer scripts. Upgrades touch nothing: records (/run/netbpf) and pins (/sys/fs/bpf/netbpf)
# of running attachments belong to the kernel state the admin made, and the new netbpf reads the
# same formats. Removal clears the compile cache; running attachments stay attached (netbpf
# never detaches what it was not asked to), and prerm says so.
cat > "$stage/DEBIAN/prerm" <<'TEXT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/netbpf/attach ] && [ -n "$(ls -A /run/netbpf/attach 2>/dev/null)" ]; then
  echo "netbpf: attachments are still recorded in /run/netbpf/attach; they stay in the kernel (detach them first with 'netbpf detach' to remove them)" >&2
fi
exit 0
TEXT
cat > "$stage/DEBIAN/postrm" <<'TEXT'
#!/bin/sh
set -e
case "$1" in
  remove|purge)
    rm -rf /var/cache/netbpf
    # Empty state folders netbpf made; folders holding records of live attachments stay.
    if [ -d /run/netbpf ]; then find /run/netbpf -depth -mindepth 1 -type d -empty -delete 2>/dev/null || true; rmdir /run/netbpf 2>/dev/null || true; fi
    ;;
esac
exit 0
TEXT
chmod 0755 "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb="$out/netbpf_${version}_${arch}.deb"
# xz by default (the smallest .deb); NETBPF_DEB_COMPRESSION="gzip -z1" is what the install test
# uses: xz of the 125 MB tree takes minutes on a busy 2-CPU machine, gzip -1 seconds.
read -r -a compression <<< "${NETBPF_DEB_COMPRESSION:-xz}"
dpkg-deb --root-owner-group "-Z${compression[0]}" "${compression[@]:1}" --build "$stage" "$deb" >/dev/null
echo "$deb"
