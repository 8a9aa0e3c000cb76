#!/bin/sh
# Assembles /app/bin/<triple>/<variant>/ from a core and one backend plugin:
# the core folder (DEST_ROOT/cpu: llama-server, the backend-agnostic libraries
# and every CPU backend module, built once by the cpu variant or by this
# image's own core stage) is hard-linked, and the plugin's backend modules are
# added. The core folder stays as the CPU fallback. Both are verified.
# usage: compose.sh PLUGIN_BIN_DIR DEST_ROOT VARIANT [ALLOWED_MISSING_SONAME...]
set -eu
bin=$1
root=$2
variant=$3
shift 3
here=$(dirname "$0")
core="$root/cpu"
dest="$root/$variant"
[ -x "$core/llama-server" ] || { echo "compose.sh: no core in $core" >&2; exit 1; }
[ "$variant" != cpu ] || { echo "compose.sh: the cpu variant is the core itself" >&2; exit 1; }
# The plugin build tree also holds its own libggml-base: the core's copy,
# compiled from the same source with the same flags, is the one shipped.
modules=$(cd "$bin" && for f in libggml-*.so; do
    case "$f" in libggml-base*|libggml-cpu-*|'libggml-*.so') ;; *) printf '%s ' "$f" ;; esac
done)
[ -n "$modules" ] || { echo "compose.sh: no $variant backend module in $bin" >&2; exit 1; }
mkdir -p "$dest"
for path in "$core"/*; do
    if [ -L "$path" ]; then cp -P "$path" "$dest/"; else ln "$path" "$dest/$(basename "$path")"; fi
done
for module in $modules; do
    [ ! -e "$dest/$module" ] || { echo "compose.sh: $module is already in the core" >&2; exit 1; }
    cp "$bin/$module" "$dest/"
done
echo "compose.sh: $variant = core + $modules"
"$here/verify-folder.sh" "$dest" "$@"
"$here/verify-folder.sh" "$core"
