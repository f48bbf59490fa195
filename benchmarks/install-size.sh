#!/usr/bin/env bash
# Install size of netbpf's Debian package next to BCC's (bpfcc-tools + python3-bpfcc + libbpfcc)
# and bpftrace's, from Debian 12's archive: the packages themselves (download size and
# Installed-Size) and with everything they pull in that a minimal Debian 12 lacks (the recursive
# Depends, less packages of priority required or important). Prints markdown for docs/benchmarks.md.
#   bash benchmarks/install-size.sh [NETBPF.deb]    # default: builds one (scripts/package-deb.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(bash scripts/package-deb.sh)}

# deps PKG...: the packages apt would bring for PKG (recursive Depends and PreDepends), PKG included.
deps() {
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null \
    | awk '/^[a-z0-9]/ {print $1}' | sort -u
}
# A minimal Debian 12 (what debootstrap --variant=minbase installs): the packages of priority
# required, apt, and what they depend on.
mapfile -t base < <(deps apt $(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}'))
# closure PKG...: deps less the base.
closure() { deps "$@" | grep -vxF -f <(printf '%s\n' "${base[@]}") || true; }
# sum FIELD PKG...: the sum of a numeric field (Installed-Size in KB, Size in bytes) over packages.
sum() { local f=$1; shift; [ $# -gt 0 ] || { echo 0; return; }
  apt-cache show --no-all-versions "$@" 2>/dev/null | awk -v f="$f" -F': ' '$1 == f {t += $2} END {print t + 0}'; }
sum_installed() { sum Installed-Size "$@"; }
sum_download() { sum Size "$@"; }
mb() { printf "%.1f" "$(echo "scale=3; $1 / 1024" | bc)"; }

nb_inst=$(dpkg-deb -f "$deb" Installed-Size)
nb_size=$(stat -c %s "$deb")
# netbpf's Depends, read from the .deb (it is not in an archive apt-cache knows).
mapfile -t nb_deps < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/ //g' | grep -v '^$')
mapfile -t nb_closure < <(closure "${nb_deps[@]}")

row() {  # row NAME DOWNLOAD_B INSTALLED_KB CLOSURE_KB CLOSURE_COUNT
  printf '| %s | %s MB | %s MB | %s MB (%s packages) |\n' "$1" "$(mb $(($2 / 1024)))" "$(mb "$3")" "$(mb "$4")" "$5"
}
echo "Debian 12 archive as of $(date -u +%Y-%m-%d); netbpf $(dpkg-deb -f "$deb" Version)"
echo
echo "| package(s) | download | installed | installed with dependencies |"
echo "|---|---|---|---|"
c_inst=$(( nb_inst + $(sum_installed "${nb_closure[@]}") ))
row "netbpf ($(basename "$deb"))" "$nb_size" "$nb_inst" "$c_inst" $(( ${#nb_closure[@]} + 1 ))
bcc=(bpfcc-tools python3-bpfcc libbpfcc)
mapfile -t bcc_closure < <(closure "${bcc[@]}")
row "bpfcc-tools + python3-bpfcc + libbpfcc" "$(sum_download "${bcc[@]}")" "$(sum_installed "${bcc[@]}")" "$(sum_installed "${bcc_closure[@]}")" "${#bcc_closure[@]}"
mapfile -t bt_closure < <(closure bpftrace)
row "bpftrace" "$(sum_download bpftrace)" "$(sum_installed bpftrace)" "$(sum_installed "${bt_closure[@]}")" "${#bt_closure[@]}"
