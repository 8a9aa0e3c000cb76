# llama-server for the CPU, derived from upstream's .devops/cpu.Dockerfile.
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/version.json rendered by the build plan
# Its `core` target (the backend-agnostic core and every CPU backend module)
# is what GPU variants on the same toolchain compose their folders from.
ARG BUILD_BASE=docker.io/ubuntu:24.04
ARG RUNTIME_BASE=docker.io/ubuntu:24.04
# `builder-fromsource`, or a prebuilt image of that stage (BUILDER_TARGET=prebuilt).
ARG BUILDER_IMAGE=builder-fromsource
# `ccache-empty`, or an exported ccache image that seeds an empty cache mount.
ARG CCACHE_SEED=ccache-empty

FROM ${BUILD_BASE} AS builder-fromsource
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        gcc-14 g++-14 build-essential git cmake libssl-dev ccache binutils
ENV CC=gcc-14 CXX=g++-14 CCACHE_DIR=/root/.cache/ccache

FROM ${BUILDER_IMAGE} AS builder

FROM scratch AS ccache-empty

FROM ${CCACHE_SEED} AS ccache-seed

FROM builder AS build
ARG TARGETARCH
COPY base-images/scripts/compile.sh base-images/scripts/glslc-cache.sh /usr/local/lib/llama-base-images/
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    --mount=type=bind,from=ccache-seed,target=/ccache-seed \
    case "$TARGETARCH" in amd64|arm64) ;; *) echo "unsupported architecture: $TARGETARCH" >&2; exit 1;; esac && \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build llama-server \
        -DGGML_NATIVE=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" cpu

FROM scratch AS core
COPY --from=build /out/app/ /app/

FROM ${RUNTIME_BASE} AS runtime
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh libgomp1 libssl3t64
COPY --from=core /app/ /app/
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
    /usr/local/lib/llama-base-images/server-setup.sh "$TARGETARCH" cpu "$LLAMA_UID" "$LLAMA_GID"
ENV LLAMA_ARG_HOST=0.0.0.0 LLAMA_ARG_PORT=8080
USER ${LLAMA_UID}:${LLAMA_GID}
WORKDIR /home/llama
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/usr/local/lib/llama-base-images/healthcheck.sh"]
ENTRYPOINT ["/usr/local/bin/llama-server"]

# The server plus ffmpeg, which llama-server runs only to decode audio and
# video input; the other targets leave it out (it is most of upstream's size).
FROM server AS media
ARG LLAMA_UID=10001
ARG LLAMA_GID=10001
USER root
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh ffmpeg
USER ${LLAMA_UID}:${LLAMA_GID}
