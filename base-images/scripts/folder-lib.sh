# Helpers shared by package.sh and compose.sh, which source this file; it is not
# run on its own. Both assemble /app/bin/<triple>/<variant>/ folders.

# die MESSAGE: one line on stderr, named after the calling script, and exit 1.
die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# backend_modules DIR: the GPU backend modules in DIR, space-separated: every
# libggml-<name>.so that is neither the backend-agnostic base nor a CPU module.
backend_modules() {
    (cd "$1" && for f in libggml-*.so; do
        case "$f" in libggml-base*|libggml-cpu-*|'libggml-*.so') ;; *) printf '%s ' "$f" ;; esac
    done)
}

# link_folder SOURCE DEST [SKIP...]: DEST gets every file of SOURCE as a hard link
# (no extra bytes), symbolic links copied as links; the names in SKIP are left out.
link_folder() {
    source_dir=$1
    dest_dir=$2
    shift 2
    mkdir -p "$dest_dir"
    for path in "$source_dir"/*; do
        name=$(basename "$path")
        case " $* " in *" $name "*) continue ;; esac
        if [ -L "$path" ]; then cp -P "$path" "$dest_dir/"; else ln "$path" "$dest_dir/$name"; fi
    done
}

# libraries_option "$@": when the arguments open with `--libraries 'PATH...'`, sets
# LIBRARIES to those paths (globs allowed); the caller shifts by SHIFT.
libraries_option() {
    LIBRARIES=
    SHIFT=0
    if [ "${1:-}" = --libraries ]; then
        [ $# -ge 2 ] || die "--libraries needs its paths"
        LIBRARIES=$2
        SHIFT=2
    fi
}

# bundle_libraries DEST 'PATH...': copies a toolkit's libraries (globs allowed, links
# kept as links) into DEST and makes the RUNPATH of each ELF file $ORIGIN, as the
# folder's own (a wheel's libraries carry RPATH); prints the names it added.
bundle_libraries() {
    dest_dir=$1
    for path in $2; do
        [ -e "$path" ] || [ -L "$path" ] || die "no toolkit library matches $path"
        name=$(basename "$path")
        [ ! -e "$dest_dir/$name" ] || die "$name is already in $dest_dir"
        cp -P "$path" "$dest_dir/"
        if [ ! -L "$path" ] && head -c 4 "$path" | grep -q ELF; then
            # shellcheck disable=SC2016 # $ORIGIN is for the dynamic linker
            patchelf --set-rpath '$ORIGIN' "$dest_dir/$name"
        fi
        printf '%s ' "$name"
    done
}
