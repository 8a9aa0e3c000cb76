# llama-server with the ROCm/HIP backend, derived from upstream's .devops/rocm.Dockerfile.
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
# Upstream's global ARGs, names and defaults unchanged (AMDGPU_VERSION is
# declared upstream but used nowhere; it is kept so the two stay comparable).
ARG UBUNTU_VERSION=24.04
ARG ROCM_VERSION=7.2.1
ARG AMDGPU_VERSION=7.2.1
ARG BASE_ROCM_DEV_CONTAINER=docker.io/rocm/dev-ubuntu-${UBUNTU_VERSION}:${ROCM_VERSION}-complete
# Upstream builds and runs on the same complete ROCm image.
ARG BUILD_BASE=${BASE_ROCM_DEV_CONTAINER}
ARG RUNTIME_BASE=${BASE_ROCM_DEV_CONTAINER}

FROM ${BUILD_BASE} AS build
ARG TARGETARCH
# GPU architectures to compile for (upstream's list, mostly what rocBLAS supports).
ARG ROCM_DOCKER_ARCH='gfx908;gfx90a;gfx942;gfx1030;gfx1100;gfx1101;gfx1102;gfx1151;gfx1150;gfx1200;gfx1201'
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        build-essential cmake git libssl-dev ccache binutils
# How the ROCm libraries are found: /opt/rocm/lib (and any directory the base
# puts on LD_LIBRARY_PATH) is registered with the dynamic linker, so they
# resolve with LD_LIBRARY_PATH unset, as package.sh checks. Our own libraries
# find each other through RUNPATH $ORIGIN alone.
RUN { echo /opt/rocm/lib; echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n'; } | sed '/^$/d' \
        > /etc/ld.so.conf.d/llama-images-toolkit.conf && \
    ldconfig
ENV CCACHE_DIR=/root/.cache/ccache
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
# The core is built by the distribution's gcc, the HIP code by ROCm's clang.
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    HIPCXX="$(hipconfig -l)/clang" HIP_PATH="$(hipconfig -R)" \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build llama-server \
        -DGGML_HIP=ON \
        -DAMDGPU_TARGETS="$ROCM_DOCKER_ARCH" \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON \
        -DLLAMA_BUILD_TESTS=OFF
ARG VARIANT=rocm
# Libraries only a GPU host's driver provides (the catalog's driver_libraries):
# none for ROCm. The whole user-space stack (HIP, HSA runtime, rocBLAS,
# hipBLAS, libdrm_amdgpu) is in the image; the host gives only the amdgpu
# kernel driver and /dev/kfd, /dev/dri.
ARG DRIVER_LIBRARIES=""
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" \
        "$VARIANT" ${DRIVER_LIBRARIES}

FROM ${RUNTIME_BASE} AS runtime
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh libgomp1 libssl3t64
# The ROCm libraries resolve without LD_LIBRARY_PATH (see the build stage).
RUN { echo /opt/rocm/lib; echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n'; } | sed '/^$/d' \
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
ARG VARIANT=rocm
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
