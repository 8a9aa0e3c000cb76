#!/bin/sh
# Assembles /app/bin/<triple>/<variant>/ from a build tree and proves that it
# is self-contained. Any missing binary or library fails the build.
# usage: package.sh BUILD_BIN_DIR DEST_DIR
set -eu
bin=$1
dest=$2
mkdir -p "$dest"
[ -x "$bin/llama-server" ] || { echo "package.sh: $bin/llama-server was not built" >&2; exit 1; }
cp -P "$bin/llama-server" "$dest/"
# Shared libraries and backend modules, versioned sonames kept as links.
found=0
for lib in "$bin"/lib*.so*; do
    [ -e "$lib" ] || continue
    cp -P "$lib" "$dest/"
    found=$((found + 1))
done
[ "$found" -gt 0 ] || { echo "package.sh: no shared library in $bin" >&2; exit 1; }
ls "$dest"/libggml-cpu*.so > /dev/null 2>&1 || { echo "package.sh: no CPU backend module in $bin" >&2; exit 1; }
exec /usr/local/lib/llama-base-images/verify-folder.sh "$dest"
