#!/usr/bin/env bash
# The release build that outrider ships and benchmarks: the image
# (scripts/image.sh) and the scripts in bench/ use it.
#
#   scripts/build-release.sh      builds, then prints the binary's path
#
# On glibc Linux the binary is linked statically. A shared C library is
# resident in full in every process that maps it (libc, libm and the loader
# are about 1.9 MiB of outrider's RSS), while a static link keeps only the
# functions outrider calls: 1.4 MiB less resident, and an image that needs
# no libraries. Name lookups still work: glibc's files and dns sources are
# built in, and /etc/hosts and /etc/resolv.conf are read as usual.
# It stays position-independent (ASLR); its relative relocations are
# packed (RELR, glibc 2.36 and binutils 2.38 on), which shrinks the table
# read at every start from 0.5 MB to 5 KB. An older linker ignores the
# option with a warning and the binary is only larger.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
[[ -n $host ]] || { echo "build-release: rustc -vV names no host" >&2; exit 1; }
case $host in
  *-linux-gnu)
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs"
    ;;
esac
# An explicit --target keeps crt-static off build scripts and proc macros,
# which the compiler loads as shared libraries and so cannot be static.
cargo build --release --locked --quiet --target "$host" >&2
echo "$PWD/target/$host/release/outrider"
