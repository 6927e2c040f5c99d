#!/bin/sh
# Rebuilds xdp_dns.o from xdp_dns.c. The object is checked in, so neither building geosteer
# nor running its tests needs clang; run this after changing xdp_dns.c and commit both.
#
#   src/dns/xdp/bpf/build.sh            # writes xdp_dns.o beside this script
#   src/dns/xdp/bpf/build.sh OUT.o      # writes OUT.o instead (the test compares the two)
#
# Beside the object it writes OUT.clang, the compiler's version line: the test compares a
# fresh build with the checked-in object byte for byte when its clang is that version.
#
# Needs clang with the BPF target (Debian: apt-get install clang). CLANG picks the compiler.
# No -g: the object carries no debug information and no build paths, so the same clang
# gives the same bytes on any machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/xdp_dns.o"}
clang=${CLANG:-}
if [ -z "$clang" ]; then
  for c in clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14; do
    if command -v "$c" >/dev/null 2>&1; then clang=$c; break; fi
  done
fi
[ -n "$clang" ] || { echo "build.sh: clang not found (apt-get install clang)" >&2; exit 1; }
cd "$here"
"$clang" -O2 -target bpf -Wall -Werror -fno-ident -c xdp_dns.c -o "$out"
"$clang" --version | head -n 1 > "$out.clang"
