#!/bin/sh
# Prepares a toolchain stage for cross-compiling: the target architecture's packages
# (Debian multiarch, installed as PACKAGE:ARCH) and the cross compilers named after the
# native ones (gcc-14 -> gcc-14-aarch64-linux-gnu).
# usage: cross-setup.sh ARCH GNU_TRIPLE COMPILER... -- TARGET_PACKAGE...
set -eu
[ "$#" -ge 4 ] || { echo "cross-setup.sh: usage: ARCH GNU_TRIPLE COMPILER... -- PACKAGE..." >&2; exit 2; }
arch=$1
triple=$2
shift 2
packages=
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
    packages="$packages $1-$triple"
    shift
done
[ "${1:-}" = -- ] || { echo "cross-setup.sh: no -- before the target packages" >&2; exit 2; }
shift
for package in "$@"; do
    packages="$packages $package:$arch"
done
dpkg --add-architecture "$arch"
# shellcheck disable=SC2086 # the names are words
exec "$(dirname "$0")/apt-install.sh" $packages
