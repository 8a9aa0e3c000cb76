#!/bin/sh
# glslc with a content-addressed cache in the ccache directory (so it is kept
# by the cache mount and exported with the ccache). ccache cannot cache shader
# compiles, and ggml-vulkan's generator runs glslc for every shader variant:
# without this, each vulkan build spends minutes recompiling identical shaders.
# The key: every argument (defines and paths included), the content of every
# file in the input's folder (where its includes live), and the real glslc.
# Anything but a compile to a file goes straight to glslc. Prints nothing of
# its own: the generator treats any stderr output as a failure.
set -eu
real=${GLSLC_REAL:-/usr/bin/glslc}
cache="${CCACHE_DIR:-/root/.cache/ccache}/glslc"
out=""
depfile=""
input=""
previous=""
for arg in "$@"; do
    case "$previous" in
        -o) out=$arg ;;
        -MF) depfile=$arg ;;
    esac
    case "$arg" in *.comp) input=$arg ;; esac
    previous=$arg
done
if [ -z "$out" ] || [ "$out" = - ] || [ -z "$input" ]; then
    exec "$real" "$@"
fi
folder=$(cat "$(dirname "$input")"/* 2>/dev/null | sha256sum | cut -c1-64)
key=$({ printf '%s\n' "$@"; echo "$folder"; stat -c '%s %Y' "$real"; } | sha256sum | cut -c1-64)
entry="$cache/$(echo "$key" | cut -c1-2)/$key"
if [ -f "$entry/out" ]; then
    cp "$entry/out" "$out"
    if [ -n "$depfile" ]; then cp "$entry/dep" "$depfile"; fi
    exit 0
fi
"$real" "$@"
staging="$entry.$$"
mkdir -p "$staging"
cp "$out" "$staging/out"
if [ -n "$depfile" ]; then cp "$depfile" "$staging/dep"; fi
mv "$staging" "$entry" 2>/dev/null || rm -rf "$staging"
