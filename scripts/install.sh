#!/usr/bin/env bash
# Installs netbpf like a system tool, as root, from this checkout:
#   bash scripts/install.sh [PREFIX]              # default /usr/local
#   bash scripts/install.sh --uninstall [PREFIX]  # removes exactly what the install wrote
# Builds release (scripts/release-build.sh: Swift runtime linked in, commit recorded), then puts
#   PREFIX/bin/netbpf                       the command
#   PREFIX/lib/netbpf/netbpf-cc             the compiler helper (found as ../lib/netbpf beside the binary)
#   PREFIX/lib/netbpf/clang/include         clang's freestanding headers, which the helper uses
#   PREFIX/share/netbpf/programs, Tools, topologies   BPF C sources and topologies (found beside the binary)
#   PREFIX/share/man/man1/netbpf*.1         one page per command (netbpf-attach.1, ...)
#   PREFIX/share/bash-completion/completions/netbpf, zsh and fish completions
#   PREFIX/share/doc/netbpf                 README and docs/
# and records every file and directory it created in PREFIX/share/netbpf/install-manifest,
# which --uninstall reads. docs/install.md has the details.
# Environment: DESTDIR stages into a folder (package-deb.sh; no manifest then), NETBPF_BIN_DIR
# takes already-built executables instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

uninstall=0
if [ "${1:-}" = --uninstall ]; then uninstall=1; shift; fi
prefix=${1:-/usr/local}
case "$prefix" in /*) ;; *) echo "install: PREFIX must be an absolute path (got '$prefix')" >&2; exit 2 ;; esac
prefix=${prefix%/}
destdir=${DESTDIR:-}
root="$destdir$prefix"
manifest="$root/share/netbpf/install-manifest"

if [ "$(id -u)" -ne 0 ] && [ -z "$destdir" ]; then
  echo "install: run as root (it writes under $prefix)" >&2
  exit 1
fi

if [ $uninstall = 1 ]; then
  if [ ! -f "$manifest" ]; then
    echo "install: no netbpf install manifest at $manifest: nothing of netbpf's is installed under $prefix" >&2
    exit 1
  fi
  # Files first, then the directories the install created, deepest first, only if empty now.
  entries=$(cat "$manifest")
  rm -f "$manifest"
  printf '%s\n' "$entries" | sed -n 's/^f //p' | while IFS= read -r f; do rm -f "$f"; done
  printf '%s\n' "$entries" | sed -n 's/^d //p' | sort -r | while IFS= read -r d; do rmdir "$d" 2>/dev/null || true; done
  # apropos/whatis index (man itself needs none); only the system manpath, whose cache is /var/cache/man.
  [ "$prefix" != /usr/local ] || ! command -v mandb >/dev/null || mandb -q 2>/dev/null || true
  echo "netbpf removed from $prefix"
  exit 0
fi

if [ -n "${NETBPF_BIN_DIR:-}" ]; then
  bin=$NETBPF_BIN_DIR
else
  source scripts/setup.sh
  bin=$(bash scripts/release-build.sh)
fi
for exe in netbpf netbpf-cc; do
  [ -x "$bin/$exe" ] || { echo "install: $bin/$exe was not built" >&2; exit 1; }
done

# A previous install under the same prefix is removed first, so files it had and this one has
# not do not stay behind.
if [ -z "$destdir" ] && [ -f "$manifest" ]; then bash "$here/scripts/install.sh" --uninstall "$prefix" >/dev/null; fi

files=() dirs=()
# mkdir_p DIR: creates DIR and its missing parents, remembering which it created.
mkdir_p() {
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do install -d -m 0755 "$d"; dirs+=("$d"); done
}
# put MODE SRC DEST: installs one file, owned by root, writable only by its owner (TrustedPath);
# MODE "0755 -s" strips it.
put() {
  mkdir_p "$(dirname "$3")"
  install -m $1 "$2" "$3"
  files+=("$3")
}

share="$root/share/netbpf"
# Stripped: the symbol tables and DWARF are a third of the release binary (94 MB -> 63 MB).
put "0755 -s" "$bin/netbpf" "$root/bin/netbpf"
put "0755 -s" "$bin/netbpf-cc" "$root/lib/netbpf/netbpf-cc"
# clang's freestanding headers (<stddef.h>, <stdint.h>, ...; 132 KB) beside the helper, which uses
# them instead of libclang-common-14-dev's 20 MB (toolchain.cpp, resourceDir): from the clang the
# helper was linked with.
clang_include=$(ls -d /usr/lib/llvm-14/lib/clang/14*/include | sort -V | tail -1)
for h in float.h inttypes.h iso646.h limits.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h \
         stdnoreturn.h tgmath.h unwind.h varargs.h __stddef_max_align_t.h; do
  put 0644 "$clang_include/$h" "$root/lib/netbpf/clang/include/$h"
done
for f in programs/*.bpf.c; do put 0644 "$f" "$share/$f"; done
for f in programs/include/*.h; do put 0644 "$f" "$share/$f"; done
for f in Tools/*/*.bpf.c; do put 0644 "$f" "$share/$f"; done
for f in topologies/*.yaml; do put 0644 "$f" "$share/$f"; done

doc="$root/share/doc/netbpf"
put 0644 README.md "$doc/README.md"
for f in docs/*.md docs/*.png; do [ -e "$f" ] && put 0644 "$f" "$doc/$f"; done
for f in Tools/*/README.md Tools/*/*_example.txt; do put 0644 "$f" "$doc/$f"; done

# Completions, from the command definitions (ArgumentParser), by the binary just installed.
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
"$bin/netbpf" --generate-completion-script bash > "$gen/netbpf"
"$bin/netbpf" --generate-completion-script zsh > "$gen/_netbpf"
"$bin/netbpf" --generate-completion-script fish > "$gen/netbpf.fish"
put 0644 "$gen/netbpf" "$root/share/bash-completion/completions/netbpf"
if [ "$prefix" = /usr ]; then zshdir="$root/share/zsh/vendor-completions"; else zshdir="$root/share/zsh/site-functions"; fi
put 0644 "$gen/_netbpf" "$zshdir/_netbpf"
put 0644 "$gen/netbpf.fish" "$root/share/fish/vendor_completions.d/netbpf.fish"

# Man pages, one per command, from the command definitions (scripts/man-pages.sh).
bash scripts/man-pages.sh "$bin/netbpf" "$gen/man"
for page in "$gen"/man/*.1; do
  if [ -n "$destdir" ]; then gzip -9n "$page"; page="$page.gz"; fi
  put 0644 "$page" "$root/share/man/man1/$(basename "$page")"
done

if [ -z "$destdir" ]; then
  { printf 'f %s\n' "${files[@]}"; [ ${#dirs[@]} -eq 0 ] || printf 'd %s\n' "${dirs[@]}"; } > "$manifest"
  # apropos/whatis index (man itself needs none); only the system manpath, whose cache is /var/cache/man.
  [ "$prefix" != /usr/local ] || ! command -v mandb >/dev/null || mandb -q 2>/dev/null || true
  echo "netbpf $("$root/bin/netbpf" --version) installed under $prefix (${#files[@]} files; remove with: bash scripts/install.sh --uninstall $prefix)"
fi
