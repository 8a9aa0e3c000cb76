#!/bin/sh
# Installs RPM packages (openEuler, yum/dnf) inside an image build: the
# counterpart of apt-install.sh for RPM-based vendor bases.
# The package cache lives on a BuildKit cache mount (/var/cache/dnf): keep
# what is downloaded there and never clean it here.
set -eu
if [ "$#" -eq 0 ]; then
    echo "yum-install.sh: no package named" >&2
    exit 2
fi
# install_weak_deps=False is dnf's --no-install-recommends.
yum install -y -q --setopt=keepcache=True --setopt=install_weak_deps=False "$@"
