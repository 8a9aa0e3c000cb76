#!/bin/sh
# Prints the platform triple of a Docker TARGETARCH.
set -eu
case "${1:?usage: triple.sh TARGETARCH}" in
    amd64) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    *) echo "triple.sh: unsupported architecture: $1" >&2; exit 1 ;;
esac
