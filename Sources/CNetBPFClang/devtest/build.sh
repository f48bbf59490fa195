#!/usr/bin/env bash
# Builds the in-process compiler as a shared library, like the SwiftPM dynamic product but
# against the shared libclang-cpp/libLLVM (so it needs libclang-cpp14-dev; Package.swift links
# the static archives), plus the devtest driver, which dlopen()s it like the Swift side does.
# Usage: devtest/build.sh [outdir]   (CXX=/opt/swift/usr/bin/clang++ to use Swift's clang)
# EXTRA_CXXFLAGS="-fno-rtti" etc. are appended to the library compile flags.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
shims=$(cd "$src/../CNetBPFShims" && pwd)
out=${1:-/tmp/netbpf-devtest}
CXX=${CXX:-g++}
CC=${CC:-gcc}
mkdir -p "$out/obj"

# Compile flags for the library: LLVM's own defines (llvm-config-14 --cxxflags minus
# -std=c++14 -fno-exceptions); RTTI stays on, Debian's LLVM 14 is built with it.
CXXFLAGS=(-std=c++17 -fPIC -O2 -Wall -Wno-unused-parameter
  -I"$src/../CNetBPFClangABI/include" -I/usr/lib/llvm-14/include
  -D_GNU_SOURCE -D__STDC_CONSTANT_MACROS -D__STDC_FORMAT_MACROS -D__STDC_LIMIT_MACROS
  ${EXTRA_CXXFLAGS:-})
LDFLAGS=(-shared -Wl,--no-undefined -Wl,-soname,libNetBPFClang.so
  -L/usr/lib/llvm-14/lib -lclang-cpp -lLLVM-14)

objs=()
for f in "$src"/*.cpp; do
  o="$out/obj/$(basename "${f%.cpp}").o"
  if [[ ! -f $o || $f -nt $o || -n $(find "$src" -maxdepth 2 -name '*.h' -newer "$o") ]]; then
    echo "+ $CXX ${CXXFLAGS[*]} -c $f -o $o"
    "$CXX" "${CXXFLAGS[@]}" -c "$f" -o "$o"
  fi
  objs+=("$o")
done
echo "+ $CXX -o $out/libNetBPFClang.so ${objs[*]} ${LDFLAGS[*]}"
"$CXX" -o "$out/libNetBPFClang.so" "${objs[@]}" "${LDFLAGS[@]}"

# The driver: C, no LLVM at link time; libbpf only for nb_write_vmlinux_h.
echo "+ $CC -O2 -Wall -I$src/include -I$shims/include -o $out/devtest $here/devtest.c $shims/vmlinux_dump.c $shims/sha256.c -lbpf -ldl"
"$CC" -O2 -Wall -I"$src/../CNetBPFClangABI/include" -I"$shims/include" -o "$out/devtest" \
  "$here/devtest.c" "$shims/vmlinux_dump.c" "$shims/sha256.c" -lbpf -ldl
echo "built $out/libNetBPFClang.so $out/devtest"
