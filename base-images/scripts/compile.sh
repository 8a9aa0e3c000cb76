#!/bin/sh
# Configures and compiles llama-server and every ggml backend module.
# usage: compile.sh SOURCE_DIR BUILD_DIR [CMAKE_ARG...]
# LLAMA_BUILD_NUMBER and LLAMA_BUILD_COMMIT (from the upstream pin) must be set:
# the source tree has no .git, and without them the server reports "build 0".
set -eu
src=$1
build=$2
shift 2
: "${LLAMA_BUILD_NUMBER:?LLAMA_BUILD_NUMBER is not set}"
: "${LLAMA_BUILD_COMMIT:?LLAMA_BUILD_COMMIT is not set}"
ccache --zero-stats > /dev/null
# The RUNPATH of every ELF is $ORIGIN and nothing else, so the folder works
# wherever it is copied, with no LD_LIBRARY_PATH.
cmake -S "$src" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON \
    '-DCMAKE_INSTALL_RPATH=$ORIGIN' \
    -DGGML_CCACHE=ON \
    -DLLAMA_BUILD_NUMBER="$LLAMA_BUILD_NUMBER" \
    -DLLAMA_BUILD_COMMIT="$LLAMA_BUILD_COMMIT" \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    "$@"
# With GGML_BACKEND_DL=ON every backend module is a dependency of ggml, so
# this one target builds the server and all the modules it can load.
cmake --build "$build" --config Release --target llama-server -j "$(nproc)"
ccache --show-stats
