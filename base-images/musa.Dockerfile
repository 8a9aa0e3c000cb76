# llama-server with the MUSA backend (Moore Threads GPUs), derived from upstream's
# .devops/musa.Dockerfile.
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
# Upstream's global ARGs, names and defaults unchanged.
ARG UBUNTU_VERSION=22.04
ARG MUSA_VERSION=rc4.3.0
ARG BASE_MUSA_DEV_CONTAINER=docker.io/mthreads/musa:${MUSA_VERSION}-devel-ubuntu${UBUNTU_VERSION}-amd64
ARG BASE_MUSA_RUN_CONTAINER=docker.io/mthreads/musa:${MUSA_VERSION}-runtime-ubuntu${UBUNTU_VERSION}-amd64
ARG BUILD_BASE=${BASE_MUSA_DEV_CONTAINER}
ARG RUNTIME_BASE=${BASE_MUSA_RUN_CONTAINER}

FROM ${BUILD_BASE} AS build
ARG TARGETARCH
# MUSA architectures to compile for; "default" is every architecture upstream builds.
ARG MUSA_DOCKER_ARCH=default
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        build-essential cmake git libssl-dev ccache binutils
# How the MUSA toolkit's libraries (libmusart, libmublas, libmusa) are found:
# /usr/local/musa/lib, and every directory the base puts on LD_LIBRARY_PATH,
# is registered with the dynamic linker, so they resolve with LD_LIBRARY_PATH
# unset, as package.sh checks. Our own libraries use RUNPATH $ORIGIN alone.
RUN { echo /usr/local/musa/lib; echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n'; } | sed '/^$/d' \
        > /etc/ld.so.conf.d/llama-images-toolkit.conf && \
    ldconfig
ENV CCACHE_DIR=/root/.cache/ccache
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
# --allow-shlib-undefined (upstream's): libmusa.so needs the host driver's
# libsrv_um_MUSA.so, which no build machine has.
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    set -- && \
    if [ "${MUSA_DOCKER_ARCH}" != default ]; then set -- "-DMUSA_ARCHITECTURES=${MUSA_DOCKER_ARCH}"; fi && \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build llama-server \
        -DGGML_NATIVE=OFF \
        -DGGML_MUSA=ON \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON \
        -DLLAMA_BUILD_TESTS=OFF \
        -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined \
        "$@"
ARG VARIANT=musa
# Libraries only a GPU host's driver provides (the catalog's driver_libraries).
# libggml-musa.so links the toolkit's libmusa.so (the driver API, ggml uses its
# virtual memory calls), and libmusa.so needs the user-mode driver
# libsrv_um_MUSA.so, which Moore Threads' container toolkit mounts from the
# host (/usr/lib/x86_64-linux-gnu/musa/); no image carries it.
ARG DRIVER_LIBRARIES="libsrv_um_MUSA.so"
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" \
        "$VARIANT" ${DRIVER_LIBRARIES}

FROM ${RUNTIME_BASE} AS runtime
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
# The MUSA runtime base has libmusart, libmublas and libmusa; Ubuntu 22.04
# names its OpenSSL runtime libssl3.
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh libgomp1 libssl3
# The MUSA libraries resolve without LD_LIBRARY_PATH (see the build stage).
RUN { echo /usr/local/musa/lib; echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n'; } | sed '/^$/d' \
        > /etc/ld.so.conf.d/llama-images-toolkit.conf && \
    ldconfig
# A base layer has no ENTRYPOINT, whatever the vendor's base sets.
ENTRYPOINT []
CMD ["/bin/bash"]
COPY --from=build /out/app/ /app/
ARG VERSION_JSON
COPY ${VERSION_JSON} /app/version.json

FROM runtime AS server
ARG TARGETARCH
ARG VARIANT=musa
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
