#!/usr/bin/env bash
# Builds the outrider image offline with podman, from the Containerfile at the
# top of the repository:
#
#   scripts/image.sh [BINARY] [TAG]
#
# BINARY defaults to the release build of scripts/build-release.sh (static
# on glibc Linux), TAG to localhost/outrider:VERSION.
# The base image (BASE_IMAGE, default localhost/outrider-base:latest) is
# imported from a rootfs tar made here: the C libraries BINARY links to (as
# ldd lists them), /etc/passwd and /etc/group with nobody (65534), /tmp, and
# the host's CA certificates for https Alertmanagers. The binary is stripped
# of its symbols on the way in. Podman's own settings apply (CONTAINERS_CONF).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-$(scripts/build-release.sh)}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
tag=${2:-localhost/outrider:$version}
base=${BASE_IMAGE:-localhost/outrider-base:latest}
[ -x "$binary" ] || { echo "no executable $binary" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/etc" "$root/tmp" "$root/usr/bin" "$root/var/lib/outrider"
chmod 1777 "$root/tmp" "$root/var/lib/outrider"
printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
# Every library ldd names, at the path the loader looks for it; a static
# binary names none (and ldd says so on stderr, with status 1).
for lib in $(ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' || true); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$root/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/base.tar" .
podman import -q "$work/base.tar" "$base" >/dev/null

context=$work/context
mkdir -p "$context"
strip -o "$context/outrider" "$binary" 2>/dev/null || cp "$binary" "$context/outrider"
podman build -q -f Containerfile --build-arg "BASE=$base" --build-arg BINARY=outrider \
  -t "$tag" "$context" >/dev/null
echo "$tag"
