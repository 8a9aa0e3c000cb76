#!/bin/sh
# Configures the source and compiles one target: llama-server (with
# GGML_BACKEND_DL=ON every backend module is a dependency of ggml, so this
# builds the core and all the modules it can load), or a single backend module
# (ggml-vulkan, ggml-cuda...) to be composed with a core built elsewhere.
# usage: compile.sh SOURCE_DIR BUILD_DIR TARGET [CMAKE_ARG...]
# LLAMA_BUILD_NUMBER and LLAMA_BUILD_COMMIT (from the upstream pin) must be set:
# the source tree has no .git, and without them the server reports "build 0".
set -eu
src=$1
build=$2
target=$3
shift 3
: "${LLAMA_BUILD_NUMBER:?LLAMA_BUILD_NUMBER is not set}"
: "${LLAMA_BUILD_COMMIT:?LLAMA_BUILD_COMMIT is not set}"
# An exported ccache (see ccache.Dockerfile) seeds an empty cache mount: a
# fresh runner starts warm. A mount that already has entries is left alone.
seed=/ccache-seed
if [ -d "$seed" ] && [ -n "$(ls -A "$seed")" ] && [ -z "$(ls -A "$CCACHE_DIR")" ]; then
    cp -a "$seed/." "$CCACHE_DIR/"
    echo "compile.sh: ccache seeded with $(du -sh "$CCACHE_DIR" | cut -f1)"
fi
# This compile's own files: its ccache statistics and glslc-cache.sh's memo.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The statistics come from this compile's own log: a core and a module may compile at
# once in the one cache, whose shared counters would mix them.
export CCACHE_STATSLOG="$scratch/ccache-stats.log"
ccache --zero-stats > /dev/null
# On a miss, ccache takes the headers a file read from the compiler's own -MD output
# instead of running the preprocessor first: a miss costs a compile and no more.
export CCACHE_DEPEND=true
# glslc-cache.sh keeps each shader folder's hash here, for this compile only.
export GLSLC_CACHE_MEMO="$scratch/glslc-memo"
mkdir "$GLSLC_CACHE_MEMO"
# llama-server embeds the web UI the `web` stage built into tools/ui/dist; it is
# never fetched (LLAMA_USE_PREBUILT_UI=OFF) nor built here.
if [ "$target" = llama-server ] && [ ! -f "$src/tools/ui/dist/index.html" ]; then
    echo "compile.sh: $src/tools/ui/dist has no index.html: the web UI was not built" >&2
    exit 1
fi
# A cross build (the toolchain's builder-cross stage sets CROSS_TRIPLE, CC and CXX):
# CMake is told the target system, from which ggml picks its CPU variants.
if [ -n "${CROSS_TRIPLE:-}" ]; then
    set -- -DCMAKE_SYSTEM_NAME=Linux "-DCMAKE_SYSTEM_PROCESSOR=${CROSS_TRIPLE%%-*}" "$@"
fi
# Ninja, where the toolchain has it: it compiles a target's objects while the
# libraries they will link against are still being built; make waits for them.
generator="Unix Makefiles"
if command -v ninja > /dev/null; then
    generator=Ninja
fi
# The RUNPATH of every ELF is $ORIGIN and nothing else, so the folder works
# wherever it is copied, with no LD_LIBRARY_PATH.
cmake -G "$generator" -S "$src" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON \
    '-DCMAKE_INSTALL_RPATH=$ORIGIN' \
    -DGGML_CCACHE=ON \
    -DLLAMA_BUILD_NUMBER="$LLAMA_BUILD_NUMBER" \
    -DLLAMA_BUILD_COMMIT="$LLAMA_BUILD_COMMIT" \
    -DLLAMA_BUILD_UI=ON \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    "$@"
# A project configured during the build (ggml-vulkan's vulkan-shaders-gen is an
# ExternalProject) does not get ggml's ccache rule, so CMake gives it the launcher
# from the environment. The configure above ran without these variables: the main
# project keeps ggml's own rule, which covers all its languages.
export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
jobs=$(nproc)
# COMPILE_FIRST=OBJECT:GENERATED (a recipe's compile_first): Ninja starts an object only
# once every generated source of its target exists. This one needs only GENERATED, so it
# compiles, through ccache, beside the target's other objects as soon as GENERATED is
# made; Ninja's own compile of it below is then a ccache hit. The others run niced: at an
# equal share the object got a third of a core beside the shader compilers, and the build
# then waited a minute for it alone.
if [ -n "${COMPILE_FIRST:-}" ]; then
    first=${COMPILE_FIRST%%:*}
    needs=${COMPILE_FIRST#*:}
    if [ "$generator" != Ninja ] || ! ninja -C "$build" -t query "$first" > /dev/null 2>&1; then
        echo "compile.sh: COMPILE_FIRST $first is not a Ninja target of this build" >&2
        exit 1
    fi
    ninja -C "$build" -j "$jobs" "$needs"
    command=$(ninja -C "$build" -t commands -s "$first")
    (cd "$build" && eval "$command") &
    first_pid=$!
    target_folder="${first%%.dir/*}.dir/"
    others=$(ninja -C "$build" -t targets all | awk -F': ' -v folder="$target_folder" \
        -v first="$first" 'index($1, folder) == 1 && $1 ~ /\.o$/ && $1 != first { print $1 }')
    # shellcheck disable=SC2086 # one object path per word
    nice -n 10 ninja -C "$build" -j "$jobs" $others
    wait "$first_pid"
fi
cmake --build "$build" --config Release --target "$target" -j "$jobs"
# ccache before 4.4 has no --show-log-stats: its shared counters are all it can show.
ccache --show-log-stats 2> /dev/null || ccache --show-stats
