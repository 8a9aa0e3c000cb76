#!/bin/sh
# Creates the server's fixed non-root user and puts llama-server on PATH.
# usage: server-setup.sh TRIPLE VARIANT UID GID
set -eu
triple=$1
variant=$2
uid=$3
gid=$4
server="/app/bin/$triple/$variant/llama-server"
[ -x "$server" ] || { echo "server-setup.sh: $server is missing" >&2; exit 1; }
# Ubuntu's base image ships a user at 1000; ours must not collide with any.
groupadd --gid "$gid" llama
useradd --uid "$uid" --gid "$gid" --create-home --home-dir /home/llama --shell /usr/sbin/nologin llama
ln -s "$server" /usr/local/bin/llama-server
# Platforms that run containers as an arbitrary UID in group 0 (OpenShift) can write
# where the server user can: its home and the model cache (LLAMA_CACHE, where -hf
# downloads go; meant to be a volume), both group 0 with the owner's rights, setgid.
mkdir -p /var/cache/llama.cpp
chown "$uid:0" /home/llama /var/cache/llama.cpp
chmod 2770 /home/llama /var/cache/llama.cpp
