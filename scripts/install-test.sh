#!/usr/bin/env bash
# The install test, as root, on this machine: builds the Debian package (and the same files as an
# "older" version), installs the old one with apt-get, starts an attachment, upgrades to the new
# one (the attachment's record and pins must survive), then, with this clone, the Swift toolchain
# and /usr/lib/llvm-14 hidden (a private mount namespace lays empty tmpfs over them), from an
# unrelated working directory holding decoy programs/, Tools/ and topologies/:
#   netbpf --version, features, compile, sim up pair + attach tc + ping + exact count + detach +
#   sim down, trace execsnoop -d 1, man netbpf-attach, bash completion;
# the one-line errors without root and without bpffs (the same as the clone's binary gives);
# scripts/install.sh into a scratch PREFIX and --uninstall (nothing left); and finally
# apt-get purge, after which nothing of the package is left. Prints "install-test: ok" at the end.
#   bash scripts/install-test.sh           # run by scripts/test.sh
# NETBPF_BIN_DIR reuses a release build (scripts/release-build.sh) instead of making one.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
source scripts/setup.sh
install_missing install-test man-db bash-completion

work=$(mktemp -d "/tmp/netbpf-install-test.XXXXXX")
chmod 0755 "$work"
sim="it$$"                      # simulation name: namespaces nb-$sim-h1, nb-$sim-h2
ns="nb-$sim-h1"
fail() { echo "install-test: FAIL: $*" >&2; exit 1; }
step() { echo "install-test: $*"; }

cleanup() {
  set +e
  if command -v netbpf >/dev/null && [ "$(command -v netbpf)" = /usr/bin/netbpf ]; then
    netbpf detach tc eth0 --netns "$ns" --all >/dev/null 2>&1
    netbpf sim down "$sim" >/dev/null 2>&1
  fi
  for n in "nb-$sim-h1" "nb-$sim-h2"; do ip netns del "$n" 2>/dev/null; done
  if dpkg-query -W -f='${Status}' netbpf 2>/dev/null | grep -q installed && [ "${installed_here:-0}" = 1 ]; then
    apt-get purge -y -qq netbpf >/dev/null 2>&1
  fi
  [ -f "$work/prefix/share/netbpf/install-manifest" ] && bash "$repo/scripts/install.sh" --uninstall "$work/prefix" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if dpkg-query -W -f='${Status}' netbpf 2>/dev/null | grep -q installed; then
  fail "a netbpf package is already installed on this machine; this test installs and purges its own (remove it first)"
fi

started=$SECONDS
bin=${NETBPF_BIN_DIR:-$(bash scripts/release-build.sh)}
step "release build ready in $((SECONDS - started)) s ($bin)"
deb=$(NETBPF_BIN_DIR="$bin" NETBPF_DEB_COMPRESSION="gzip -z1" bash scripts/package-deb.sh "$work/new")
# The "older" package: the same files under a lower version, repacked without compression.
dpkg-deb -R "$deb" "$work/oldtree"
sed -i 's/^Version: .*/Version: 0.0.1~old/' "$work/oldtree/DEBIAN/control"
mkdir -p "$work/old"
old="$work/old/netbpf_0.0.1~old_amd64.deb"
dpkg-deb --root-owner-group -Znone --build "$work/oldtree" "$old" >/dev/null
rm -rf "$work/oldtree"
version=$(dpkg-deb -f "$deb" Version)
step "packages: $(basename "$deb") ($(du -k "$deb" | cut -f1) KB), $(basename "$old")"
[[ "$("$bin/netbpf" --version)" =~ ^"$version (git "[0-9a-f]{7}(-dirty)?")"$ ]] \
  || fail "netbpf --version says '$("$bin/netbpf" --version)', the package is $version"

# Install the old version, attach something, upgrade: the attachment's record and pins stay.
installed_here=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$old" >/dev/null || fail "apt-get install $old"
[ "$(dpkg-query -W -f='${Version}' netbpf)" = 0.0.1~old ] || fail "the old package is not the one installed"
cd "$work"
netbpf sim up pair --name "$sim" >/dev/null || fail "sim up pair (installed old version)"
netbpf attach tc eth0 /usr/share/netbpf/programs/count_icmp.bpf.c --netns "$ns" >/dev/null || fail "attach tc (old version)"
pins="/sys/fs/bpf/netbpf/$ns/eth0/ingress/count_icmp"
[ -e "$pins/maps/counts" ] || fail "no pinned map at $pins/maps/counts after attach"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null || fail "apt-get install $deb (upgrade)"
[ "$(dpkg-query -W -f='${Version}' netbpf)" = "$version" ] || fail "the upgrade did not install $version"
[ -e "$pins/maps/counts" ] || fail "the upgrade removed the pins of a running attachment ($pins)"
grep -rqs "$ns" /run/netbpf/attach || fail "the upgrade lost the attachment's record (none in /run/netbpf/attach names $ns)"
netbpf list --netns "$ns" --json | grep -q count_icmp || fail "after the upgrade netbpf list --netns $ns does not show count_icmp"
step "upgrade from 0.0.1~old to $version kept the attachment (record and pins)"

# From here on the clone and the Swift toolchain are out of reach.
toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")
mkdir -p "$work/cwd/programs/include" "$work/cwd/Tools/execsnoop" "$work/cwd/topologies"
for decoy in "$work"/cwd/programs/count_icmp.bpf.c "$work"/cwd/Tools/execsnoop/execsnoop.bpf.c; do
  echo '#error this is a decoy in the working directory: netbpf must not read it' > "$decoy"
done
echo 'name: decoy' > "$work/cwd/topologies/pair.yaml"
cat > "$work/inside.sh" <<'INSIDE'
set -euo pipefail
fail() { echo "install-test: FAIL: $*" >&2; exit 1; }
mount -t tmpfs -o size=1m,mode=0755 none "$REPO"
mount -t tmpfs -o size=1m,mode=0755 none "$TOOLCHAIN"
mount -t tmpfs -o size=1m,mode=0755 none /usr/lib/llvm-14   # the helper's headers are its own
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
cd "$WORK/cwd"
[ ! -e "$REPO/Package.swift" ] && ! command -v swift >/dev/null || fail "the clone or the toolchain is still visible"
[ "$(netbpf --version)" = "$EXPECTED_VERSION" ] || fail "installed netbpf --version: $(netbpf --version)"
netbpf features >/dev/null || fail "netbpf features"
netbpf compile /usr/share/netbpf/programs/count_packets.bpf.c -o "$WORK/count.o" >/dev/null || fail "netbpf compile"
[ "$(head -c 4 "$WORK/count.o" | od -An -c | tr -d ' ')" = '177ELF' ] || fail "netbpf compile wrote no ELF object"
# The attachment made before the upgrade counts exactly the pings sent.
netbpf map update "$PINS/maps/counts" --key u32:0 --value u64:0 >/dev/null
netbpf sim exec --sim "$SIM" h2 -- ping -c 5 -i 0.2 -q 10.0.0.1 >/dev/null 2>&1 || fail "ping h2 -> h1"
got=$(netbpf map get "$PINS/maps/counts" --key u32:0 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("value", d))')
case "$got" in *05000000*|5|*\"5\"*) ;; *) fail "count_icmp counted '$got' echo requests, 5 were sent" ;; esac
netbpf detach tc eth0 --netns "$NS" --all >/dev/null || fail "detach tc"
[ ! -e "$PINS" ] || fail "detach left $PINS"
netbpf sim down "$SIM" >/dev/null || fail "sim down"
ip netns list | grep -q "nb-$SIM-" && fail "sim down left namespaces"
# A tool: its BPF C from /usr/share/netbpf/Tools, not the decoy in the working directory.
# exec()s all the while execsnoop runs (its compile comes first, then one second of tracing).
(while [ ! -e "$WORK/execsnoop.done" ]; do /bin/true install-test-marker; sleep 0.05; done) &
netbpf trace execsnoop -d 1 > "$WORK/execsnoop.txt" || fail "trace execsnoop -d 1"
touch "$WORK/execsnoop.done"; wait
grep -q 'install-test-marker' "$WORK/execsnoop.txt" || fail "execsnoop did not show the exec()s made while it ran: $(head -3 "$WORK/execsnoop.txt")"
man -w netbpf-attach >/dev/null || fail "man netbpf-attach: no page"
man netbpf-attach 2>/dev/null | grep -q 'tc' || fail "man netbpf-attach: the page does not describe attach"
words=$(bash -c 'shopt -s extglob; source /usr/share/bash-completion/bash_completion 2>/dev/null; source /usr/share/bash-completion/completions/netbpf; COMP_WORDS=(netbpf att); COMP_CWORD=1; COMP_LINE="netbpf att"; COMP_POINT=${#COMP_LINE}; _netbpf netbpf att netbpf 2>/dev/null; echo "${COMPREPLY[*]}"')
[[ " $words " == *" attach "* ]] || fail "bash completion of 'netbpf att' gave '$words'"
INSIDE
step "hiding $repo, $toolchain and /usr/lib/llvm-14; working directory $work/cwd (with decoy programs/, Tools/, topologies/)"
REPO=$repo TOOLCHAIN=$toolchain WORK=$work SIM=$sim NS=$ns PINS=$pins \
EXPECTED_VERSION="$("$bin/netbpf" --version)" \
  unshare --mount --propagation slave bash "$work/inside.sh" || fail "the installed netbpf (see above)"
step "installed netbpf: version, features, compile, sim + attach + exact count + detach, execsnoop, man, bash completion"

# Bad input: the same one-line errors as the clone's own binary.
compare() {  # compare LABEL COMMAND...: installed and clone-built netbpf, same stderr, same failure
  local label=$1; shift
  local a b ra rb
  a=$("$@" /usr/bin/netbpf 2>&1 >/dev/null) && ra=0 || ra=$?
  b=$("$@" "$bin/netbpf" 2>&1 >/dev/null) && rb=0 || rb=$?
  [ "$ra" -ne 0 ] || fail "$label: the installed netbpf succeeded"
  [ "$(printf '%s\n' "$a" | wc -l)" -eq 1 ] || fail "$label: not one line: $a"
  [ "$a" = "$b" ] && [ "$ra" = "$rb" ] || fail "$label: installed says '$a' ($ra), the clone's build '$b' ($rb)"
  step "$label: $a"
}
as_nobody() { local exe=$1; setpriv --reuid=nobody --regid=nogroup --clear-groups "$exe" attach tc lo /usr/share/netbpf/programs/count_icmp.bpf.c; }
without_bpffs() { local exe=$1; unshare --mount --net --propagation slave sh -c 'mount -t tmpfs none /sys/fs/bpf && exec "$0" attach tc lo /usr/share/netbpf/programs/count_icmp.bpf.c' "$exe"; }
compare "without root" as_nobody
compare "without bpffs" without_bpffs

# scripts/install.sh into a scratch prefix: found there, and --uninstall leaves nothing.
NETBPF_BIN_DIR="$bin" bash "$repo/scripts/install.sh" "$work/prefix" >/dev/null || fail "scripts/install.sh $work/prefix"
(cd / && "$work/prefix/bin/netbpf" compile "$work/prefix/share/netbpf/programs/count_packets.bpf.c" -o "$work/count2.o" >/dev/null) \
  || fail "netbpf installed by install.sh cannot compile"
[ -e "$work/prefix/share/man/man1/netbpf-attach.1" ] || fail "install.sh wrote no netbpf-attach.1"
bash "$repo/scripts/install.sh" --uninstall "$work/prefix" >/dev/null || fail "install.sh --uninstall"
[ ! -e "$work/prefix" ] || fail "install.sh --uninstall left: $(find "$work/prefix" | head -5 | tr '\n' ' ')"
step "scripts/install.sh PREFIX and --uninstall: nothing left"

# Removal: nothing of the package is left.
files=$(dpkg-query -L netbpf | grep -E '^/usr/(bin|lib|share)/.*netbpf|^/usr/share/(netbpf|doc/netbpf)' || true)
purged_at=$(date +%s)
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq netbpf >/dev/null || fail "apt-get purge netbpf"
installed_here=0
left=$(printf '%s\n' "$files" | while read -r f; do [ -n "$f" ] && [ -e "$f" ] && echo "$f"; done || true)
[ -z "$left" ] || fail "apt-get purge left: $left"
for d in /usr/share/netbpf /usr/lib/netbpf /usr/share/doc/netbpf /usr/bin/netbpf; do
  [ ! -e "$d" ] || fail "apt-get purge left $d"
done
# The compile cache goes too; a netbpf built elsewhere on this machine (a clone's tests) may
# have made a new one since: then it was born after the purge.
[ ! -e /var/cache/netbpf ] || [ "$(stat -c %W /var/cache/netbpf)" -ge "$purged_at" ] || fail "apt-get purge left /var/cache/netbpf"
dpkg-query -W netbpf >/dev/null 2>&1 && fail "dpkg still knows netbpf after purge"
step "apt-get purge: nothing left"
echo "install-test: ok ($((SECONDS - started)) s)"
