#!/bin/sh
# Installs Debian/Ubuntu packages inside an image build.
# The apt cache and lists live on BuildKit cache mounts: never clean them here.
set -eu
if [ "$#" -eq 0 ]; then
    echo "apt-install.sh: no package named" >&2
    exit 2
fi
rm -f /etc/apt/apt.conf.d/docker-clean
echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "$@"
