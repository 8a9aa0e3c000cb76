#!/bin/sh
# Registers a toolkit's library folders with the dynamic linker, so that its
# libraries resolve with LD_LIBRARY_PATH unset (package.sh and the image tests
# check that they do). Our own libraries find each other through RUNPATH
# $ORIGIN alone.
# usage: register-libraries.sh FOLDER_OR_PATH_LIST...
# Each argument is a folder or a colon-separated list of them (the base's
# LD_LIBRARY_PATH, say); empty entries are skipped, and with none left nothing
# is registered (a base without the toolkit: package.sh then names what is missing).
set -eu
conf=/etc/ld.so.conf.d/llama-images-toolkit.conf
for entry in "$@"; do
    printf '%s\n' "$entry" | tr ':' '\n'
done | sed '/^$/d' > "$conf"
if [ -s "$conf" ]; then ldconfig; else rm "$conf"; fi
