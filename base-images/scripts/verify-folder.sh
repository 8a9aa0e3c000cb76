#!/bin/sh
# Checks that every ELF file in a variant folder has RUNPATH exactly $ORIGIN
# and that the dynamic linker finds every library it needs without help.
# usage: verify-folder.sh DIR [ALLOWED_MISSING_SONAME...]
set -eu
dir=$1
shift
unset LD_LIBRARY_PATH
status=0
for f in "$dir"/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    head -c 4 "$f" | grep -q 'ELF' || continue
    runpath=$(readelf -d "$f" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    if [ "$runpath" != '$ORIGIN' ]; then
        echo "verify-folder.sh: $f has RUNPATH '$runpath', expected '\$ORIGIN'" >&2
        status=1
    fi
    missing=$(ldd "$f" | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p')
    for soname in $missing; do
        allowed=no
        for ok in "$@"; do [ "$soname" = "$ok" ] && allowed=yes; done
        if [ "$allowed" = no ]; then
            echo "verify-folder.sh: $f needs $soname, which is not found" >&2
            status=1
        fi
    done
done
exit "$status"
