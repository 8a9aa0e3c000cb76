#!/bin/sh
# Assembles /app/bin/<triple>/<variant>/ from a build tree and proves that it
# is self-contained. For a GPU variant it also assembles the cpu fallback
# folder: the same core and CPU modules, without the GPU backend module (hard
# links, so the fallback costs no extra bytes). Any missing binary or library
# fails the build.
# usage: package.sh BUILD_BIN_DIR DEST_ROOT VARIANT [ALLOWED_MISSING_SONAME...]
set -eu
bin=$1
root=$2
variant=$3
shift 3
here=$(dirname "$0")
dest="$root/$variant"
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
ls "$dest"/libggml-cpu-*.so > /dev/null 2>&1 || { echo "package.sh: no CPU backend module in $bin" >&2; exit 1; }
"$here/verify-folder.sh" "$dest" "$@"
[ "$variant" = cpu ] && exit 0

# The GPU backend modules: libggml-<name>.so that are neither the core nor CPU.
gpu_modules=$(cd "$dest" && for f in libggml-*.so; do
    case "$f" in libggml-base*|libggml-cpu-*) ;; *) printf '%s ' "$f" ;; esac
done)
[ -n "$gpu_modules" ] || { echo "package.sh: no $variant backend module in $bin" >&2; exit 1; }
echo "package.sh: $variant backend modules: $gpu_modules"
fallback="$root/cpu"
mkdir -p "$fallback"
for path in "$dest"/*; do
    name=$(basename "$path")
    case " $gpu_modules " in *" $name "*) continue ;; esac
    if [ -L "$path" ]; then cp -P "$path" "$fallback/"; else ln "$path" "$fallback/$name"; fi
done
"$here/verify-folder.sh" "$fallback"
