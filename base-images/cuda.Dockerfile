# llama-server with the CUDA backend, derived from upstream's .devops/cuda.Dockerfile.
# CUDA 12 (the default) or 13: set CUDA_VERSION (the catalog's cuda13 does).
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
ARG UBUNTU_VERSION=24.04
ARG CUDA_VERSION=12.8.1
ARG GCC_VERSION=14
ARG BASE_CUDA_DEV_CONTAINER=docker.io/nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION}
ARG BASE_CUDA_RUN_CONTAINER=docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION}
ARG BUILD_BASE=${BASE_CUDA_DEV_CONTAINER}
ARG RUNTIME_BASE=${BASE_CUDA_RUN_CONTAINER}

FROM ${BUILD_BASE} AS build
ARG TARGETARCH
ARG GCC_VERSION
# GPU architectures to compile for; "default" is every architecture upstream builds.
ARG CUDA_DOCKER_ARCH=default
# Empty on NVIDIA's devel base, which has the toolkit; the offline profile
# installs Debian's nvidia-cuda-toolkit here.
ARG TOOLKIT_BUILD_PACKAGES=""
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        gcc-${GCC_VERSION} g++-${GCC_VERSION} build-essential cmake git libssl-dev libgomp1 \
        ccache binutils ${TOOLKIT_BUILD_PACKAGES}
ENV CC=gcc-${GCC_VERSION} CXX=g++-${GCC_VERSION} CUDAHOSTCXX=g++-${GCC_VERSION} \
    CCACHE_DIR=/root/.cache/ccache
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    set -- && \
    if [ "${CUDA_DOCKER_ARCH}" != default ]; then set -- "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_DOCKER_ARCH}"; fi && \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build \
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
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
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
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${LLAMA_ARG_PORT:-8080}/health" || exit 1
ENTRYPOINT ["/usr/local/bin/llama-server"]
