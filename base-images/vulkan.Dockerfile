# llama-server with the Vulkan backend, derived from upstream's .devops/vulkan.Dockerfile.
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
# The folder is composed: a core (llama-server, the backend-agnostic libraries,
# every CPU backend module) plus the Vulkan backend module. CORE_IMAGE names
# the cpu variant's `core` image when it was built on this toolchain;
# otherwise the `core-own` stage builds the same core here.
ARG BUILD_BASE=docker.io/ubuntu:26.04
ARG RUNTIME_BASE=docker.io/ubuntu:26.04
ARG CORE_IMAGE=core-own
# `builder-fromsource`, or a prebuilt image of that stage (BUILDER_TARGET=prebuilt).
ARG BUILDER_IMAGE=builder-fromsource
# `ccache-empty`, or an exported ccache image that seeds an empty cache mount.
ARG CCACHE_SEED=ccache-empty

FROM ${BUILD_BASE} AS builder-fromsource
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        gcc-14 g++-14 build-essential git cmake libssl-dev ccache binutils \
        libvulkan-dev glslc spirv-headers
ENV CC=gcc-14 CXX=g++-14 CCACHE_DIR=/root/.cache/ccache

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
COPY base-images/scripts/compile.sh base-images/scripts/glslc-cache.sh /usr/local/lib/llama-base-images/
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
# The core's flags plus the backend: only the module (and the ggml-base it
# links, a ccache hit) is compiled; shaders go through glslc-cache.sh.
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    --mount=type=bind,from=ccache-seed,target=/ccache-seed \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build ggml-vulkan \
        -DGGML_NATIVE=OFF \
        -DGGML_VULKAN=ON \
        -DVulkan_GLSLC_EXECUTABLE=/usr/local/lib/llama-base-images/glslc-cache.sh \
        -DLLAMA_BUILD_TESTS=OFF \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON
COPY --from=core /app/ /out/app/
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN /usr/local/lib/llama-base-images/compose.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" vulkan

FROM ${RUNTIME_BASE} AS runtime
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
# The Vulkan loader and Mesa's drivers (lavapipe included, which runs on the CPU);
# the GL/EGL dispatch libraries, without which NVIDIA's container toolkit exposes no
# Vulkan device, and the capabilities that make it mount NVIDIA's Vulkan driver.
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        libgomp1 libssl3t64 libvulkan1 mesa-vulkan-drivers \
        libglvnd0 libgl1 libglx0 libegl1 libgles2
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
COPY --from=build /out/app/ /app/
ARG VERSION_JSON
COPY ${VERSION_JSON} /app/version.json

FROM runtime AS server
ARG TARGETARCH
ARG LLAMA_UID=10001
ARG LLAMA_GID=10001
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh curl ca-certificates && \
    /usr/local/lib/llama-base-images/server-setup.sh "$TARGETARCH" vulkan "$LLAMA_UID" "$LLAMA_GID"
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
