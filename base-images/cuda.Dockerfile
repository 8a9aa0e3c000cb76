# llama-server with the CUDA backend, derived from upstream's .devops/cuda.Dockerfile.
# CUDA 12 (the default) or 13: set CUDA_VERSION (the catalog's cuda13 does).
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
# The folder is composed: a core (llama-server, the backend-agnostic libraries,
# every CPU backend module) plus the CUDA backend module.
ARG UBUNTU_VERSION=24.04
ARG CUDA_VERSION=12.8.1
ARG GCC_VERSION=14
ARG BASE_CUDA_DEV_CONTAINER=docker.io/nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION}
ARG BASE_CUDA_RUN_CONTAINER=docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION}
ARG BUILD_BASE=${BASE_CUDA_DEV_CONTAINER}
ARG RUNTIME_BASE=${BASE_CUDA_RUN_CONTAINER}
# The cpu variant's `core` image when it was built on this toolchain;
# otherwise the `core-own` stage builds the same core here.
ARG CORE_IMAGE=core-own
# `builder-fromsource`, or a prebuilt image of that stage (BUILDER_TARGET=prebuilt).
ARG BUILDER_IMAGE=builder-fromsource
# `ccache-empty`, or an exported ccache image that seeds an empty cache mount.
ARG CCACHE_SEED=ccache-empty

FROM ${BUILD_BASE} AS builder-fromsource
ARG GCC_VERSION
# Empty on NVIDIA's devel base, which has the toolkit; the offline profile
# installs Debian's nvidia-cuda-toolkit here.
ARG TOOLKIT_BUILD_PACKAGES=""
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        gcc-14 g++-14 gcc-${GCC_VERSION} g++-${GCC_VERSION} build-essential cmake git libssl-dev \
        libgomp1 ccache binutils ${TOOLKIT_BUILD_PACKAGES}
# The core is C/C++ only and uses the cpu variant's compiler; nvcc uses
# GCC_VERSION as its host compiler (CUDA 12.4 refuses gcc 14).
ENV CC=gcc-14 CXX=g++-14 CUDAHOSTCXX=g++-${GCC_VERSION} \
    CCACHE_DIR=/root/.cache/ccache

FROM ${BUILDER_IMAGE} AS builder

FROM scratch AS ccache-empty

FROM ${CCACHE_SEED} AS ccache-seed

FROM builder AS core-build
ARG TARGETARCH
COPY base-images/scripts/compile.sh base-images/scripts/glslc-cache.sh /usr/local/lib/llama-base-images/
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    --mount=type=bind,from=ccache-seed,target=/ccache-seed \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build llama-server \
        -DGGML_NATIVE=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" cpu

FROM scratch AS core-own
COPY --from=core-build /out/app/ /app/

FROM ${CORE_IMAGE} AS core

FROM builder AS build
ARG TARGETARCH
# GPU architectures to compile for; "default" is every architecture upstream builds.
ARG CUDA_DOCKER_ARCH=default
COPY base-images/scripts/compile.sh base-images/scripts/glslc-cache.sh /usr/local/lib/llama-base-images/
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    --mount=type=bind,from=ccache-seed,target=/ccache-seed \
    set -- && \
    if [ "${CUDA_DOCKER_ARCH}" != default ]; then set -- "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_DOCKER_ARCH}"; fi && \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build ggml-cuda \
        -DGGML_NATIVE=OFF \
        -DGGML_CUDA=ON \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON \
        -DLLAMA_BUILD_TESTS=OFF \
        -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined \
        "$@"
ARG VARIANT=cuda
# Libraries only a GPU host's driver provides (the catalog's driver_libraries).
ARG DRIVER_LIBRARIES="libcuda.so.1"
COPY --from=core /app/ /out/app/
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN /usr/local/lib/llama-base-images/compose.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" \
        "$VARIANT" ${DRIVER_LIBRARIES}

FROM ${RUNTIME_BASE} AS runtime
# Empty on NVIDIA's runtime base, which has cudart and cuBLAS; the offline
# profile installs Debian's packages of them here.
ARG TOOLKIT_RUNTIME_PACKAGES=""
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh libgomp1 libssl3t64 ${TOOLKIT_RUNTIME_PACKAGES}
COPY --from=build /out/app/ /app/
# NVIDIA's bases set an ENTRYPOINT of their own; a base layer sets none.
ENTRYPOINT []
ARG VERSION_JSON
COPY ${VERSION_JSON} /app/version.json

FROM runtime AS server
ARG TARGETARCH
ARG VARIANT=cuda
ARG LLAMA_UID=10001
ARG LLAMA_GID=10001
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh curl ca-certificates && \
    /usr/local/lib/llama-base-images/server-setup.sh "$TARGETARCH" "$VARIANT" "$LLAMA_UID" "$LLAMA_GID"
ENV LLAMA_ARG_HOST=0.0.0.0 LLAMA_ARG_PORT=8080
USER ${LLAMA_UID}:${LLAMA_GID}
WORKDIR /home/llama
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/usr/local/lib/llama-base-images/healthcheck.sh"]
ENTRYPOINT ["/usr/local/bin/llama-server"]

# The server plus ffmpeg, which llama-server runs only to decode audio and
# video input.
FROM server AS media
ARG LLAMA_UID=10001
ARG LLAMA_GID=10001
USER root
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh ffmpeg
USER ${LLAMA_UID}:${LLAMA_GID}
