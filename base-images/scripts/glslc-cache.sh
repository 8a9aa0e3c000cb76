#!/bin/sh
# glslc with a content-addressed cache in the ccache directory (so it is kept
# by the cache mount and exported with the ccache). ccache cannot cache shader
# compiles, and ggml-vulkan's generator runs glslc for every shader variant:
# without this, each vulkan build spends minutes recompiling identical shaders.
# The key: every argument (defines and paths included), the content of every
# file in the input's folder (where its includes live), and the real glslc.
# Anything but a compile to a file goes straight to glslc. Prints nothing of
# its own: the generator treats any stderr output as a failure.
#
# GLSLC_CACHE_MEMO (set by compile.sh for one compile, whose source does not
# change under it) names a folder where the folder's hash is kept once worked
# out: the generator calls this script over a thousand times, and hashing the
# shader folder at each call made a build served wholly from the cache take
# half a minute. The hit path starts no process but sha256sum and cp.
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
case "$input" in
    */*) folder_path=${input%/*} ;;
    *) folder_path=. ;;
esac
memo=""
if [ -n "${GLSLC_CACHE_MEMO:-}" ]; then
    case "$folder_path" in
        /*) memo="$GLSLC_CACHE_MEMO$folder_path.sha256" ;;
        *) memo="$GLSLC_CACHE_MEMO/$(pwd)/$folder_path.sha256" ;;
    esac
fi
if [ -n "$memo" ] && [ -f "$memo" ]; then
    read -r folder < "$memo"
else
    folder=$(cat "$folder_path"/* 2>/dev/null | sha256sum)
    folder="${folder%% *} $(stat -c '%s %Y' "$real")"
    if [ -n "$memo" ]; then
        mkdir -p "${memo%/*}"
        printf '%s\n' "$folder" > "$memo.$$"
        mv "$memo.$$" "$memo"
    fi
fi
key=$({ printf '%s\n' "$@"; echo "$folder"; } | sha256sum)
key=${key%% *}
after_prefix=${key#??}
entry="$cache/${key%"$after_prefix"}/$key"
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
