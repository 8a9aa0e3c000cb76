#!/bin/sh
# Assembles /app/bin/<triple>/<variant>/ from a build tree and proves that it
# is self-contained. For a GPU variant it also assembles the cpu fallback
# folder: the same core and CPU modules, without the GPU backend module (hard
# links, so the fallback costs no extra bytes); the toolkit libraries --libraries
# names go into the variant folder only. Any missing binary or library fails the build.
# usage: package.sh [--libraries 'PATH...'] BUILD_BIN_DIR DEST_ROOT VARIANT [ALLOWED_MISSING_SONAME...]
set -eu
here=$(dirname "$0")
. "$here/folder-lib.sh"
libraries_option "$@"
shift "$SHIFT"
bin=$1
root=$2
variant=$3
shift 3
dest="$root/$variant"
mkdir -p "$dest"
[ -x "$bin/llama-server" ] || die "$bin/llama-server was not built"
cp -P "$bin/llama-server" "$dest/"
# Shared libraries and backend modules, versioned sonames kept as links.
found=0
for lib in "$bin"/lib*.so*; do
    [ -e "$lib" ] || continue
    cp -P "$lib" "$dest/"
    found=$((found + 1))
done
[ "$found" -gt 0 ] || die "no shared library in $bin"
ls "$dest"/libggml-cpu-*.so > /dev/null 2>&1 || die "no CPU backend module in $bin"
bundled=$(bundle_libraries "$dest" "$LIBRARIES")
"$here/verify-folder.sh" "$dest" "$@"
[ "$variant" = cpu ] && exit 0

modules=$(backend_modules "$dest")
[ -n "$modules" ] || die "no $variant backend module in $bin"
echo "package.sh: $variant backend modules: $modules${bundled:+; toolkit libraries: $bundled}"
# shellcheck disable=SC2086 # the names are words
link_folder "$dest" "$root/cpu" $modules $bundled
"$here/verify-folder.sh" "$root/cpu"
