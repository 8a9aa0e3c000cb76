#!/bin/sh
# Checks that every ELF file in a variant folder is built for the target machine, has
# RUNPATH exactly $ORIGIN, and needs no library the target cannot find without help.
# The target is the build machine, or CROSS_TRIPLE's in a cross build, where the
# dynamic linker cannot run: there each needed library must be in the folder or in
# the target's multiarch library folders.
# usage: verify-folder.sh DIR [ALLOWED_MISSING_SONAME...]
set -eu
dir=$1
shift
unset LD_LIBRARY_PATH
triple=${CROSS_TRIPLE:-}
case "${triple%%-*}" in
    '') machine=$(uname -m) ;;
    *) machine=${triple%%-*} ;;
esac
case "$machine" in
    x86_64) elf_machine='Advanced Micro Devices X86-64' ;;
    aarch64) elf_machine='AArch64' ;;
    s390x) elf_machine='IBM S/390' ;;
    *) echo "verify-folder.sh: no ELF machine known for $machine" >&2; exit 1 ;;
esac

# missing_needed FILE: the sonames FILE needs that neither the folder nor the cross
# target's library folders hold.
missing_needed() {
    readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r soname; do
        found=no
        for lib in "$dir" "/lib/$triple" "/usr/lib/$triple" "/usr/$triple/lib"; do
            [ -e "$lib/$soname" ] && found=yes
        done
        [ "$found" = yes ] || echo "$soname"
    done
}

status=0
for f in "$dir"/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    head -c 4 "$f" | grep -q 'ELF' || continue
    built_for=$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')
    if [ "$built_for" != "$elf_machine" ]; then
        echo "verify-folder.sh: $f is built for '$built_for', expected '$elf_machine'" >&2
        status=1
    fi
    runpath=$(readelf -d "$f" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    if [ "$runpath" != '$ORIGIN' ]; then
        echo "verify-folder.sh: $f has RUNPATH '$runpath', expected '\$ORIGIN'" >&2
        status=1
    fi
    if [ -n "$triple" ]; then
        missing=$(missing_needed "$f")
    else
        missing=$(ldd "$f" | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p')
    fi
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
