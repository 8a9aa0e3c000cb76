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
