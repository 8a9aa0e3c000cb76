#!/bin/sh
# Assembles /app/bin/<triple>/<variant>/ from a core and one backend plugin:
# the core folder (DEST_ROOT/cpu: llama-server, the backend-agnostic libraries
# and every CPU backend module, built once by the cpu variant or by this
# image's own core stage) is hard-linked, and the plugin's backend modules are
# added, with the toolkit libraries --libraries names (for a toolkit no base
# provides). The core folder stays as the CPU fallback. Both are verified.
# usage: compose.sh [--libraries 'PATH...'] PLUGIN_BIN_DIR DEST_ROOT VARIANT [ALLOWED_MISSING_SONAME...]
set -eu
here=$(dirname "$0")
. "$here/folder-lib.sh"
libraries_option "$@"
shift "$SHIFT"
bin=$1
root=$2
variant=$3
shift 3
core="$root/cpu"
dest="$root/$variant"
[ -x "$core/llama-server" ] || die "no core in $core"
[ "$variant" != cpu ] || die "the cpu variant is the core itself"
# The plugin build tree also holds its own libggml-base: the core's copy,
# compiled from the same source with the same flags, is the one shipped.
modules=$(backend_modules "$bin")
[ -n "$modules" ] || die "no $variant backend module in $bin"
link_folder "$core" "$dest"
for module in $modules; do
    [ ! -e "$dest/$module" ] || die "$module is already in the core"
    cp "$bin/$module" "$dest/"
done
bundled=$(bundle_libraries "$dest" "$LIBRARIES")
echo "compose.sh: $variant = core + $modules${bundled:++ $bundled}"
"$here/verify-folder.sh" "$dest" "$@"
"$here/verify-folder.sh" "$core"
