# llama-server with the SYCL backend (Intel GPUs, oneAPI), derived from upstream's
# .devops/intel.Dockerfile.
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
# Upstream's global ARG, name and default unchanged; upstream builds and runs
# on the same oneAPI image.
ARG ONEAPI_VERSION=2025.3.3-0-devel-ubuntu24.04
ARG BUILD_BASE=docker.io/intel/deep-learning-essentials:${ONEAPI_VERSION}
ARG RUNTIME_BASE=docker.io/intel/deep-learning-essentials:${ONEAPI_VERSION}

FROM ${BUILD_BASE} AS build
ARG TARGETARCH
ARG GGML_SYCL_F16=ON
# The Level Zero loader and headers ggml-sycl is built against: upstream's
# release, installed over the base's own (hence --force-overwrite, as upstream).
ARG LEVEL_ZERO_VERSION=1.28.2
ARG LEVEL_ZERO_UBUNTU_VERSION=u24.04
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh \
        git libssl-dev wget ca-certificates ccache binutils && \
    mkdir /tmp/level-zero && \
    release="https://github.com/oneapi-src/level-zero/releases/download/v${LEVEL_ZERO_VERSION}" && \
    suffix="${LEVEL_ZERO_VERSION}%2B${LEVEL_ZERO_UBUNTU_VERSION}_amd64.deb" && \
    wget -q "$release/level-zero_$suffix" -O /tmp/level-zero/level-zero.deb && \
    wget -q "$release/level-zero-devel_$suffix" -O /tmp/level-zero/level-zero-devel.deb && \
    /usr/local/lib/llama-base-images/apt-install.sh -o Dpkg::Options::=--force-overwrite \
        /tmp/level-zero/level-zero.deb /tmp/level-zero/level-zero-devel.deb && \
    rm -r /tmp/level-zero
# How the oneAPI libraries (SYCL and compiler runtimes, oneMKL, oneDNN, the
# Level Zero loader) are found: every directory the base puts on
# LD_LIBRARY_PATH is registered with the dynamic linker, so they resolve with
# LD_LIBRARY_PATH unset, as package.sh checks. Our own libraries use RUNPATH
# $ORIGIN alone.
RUN echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | sed '/^$/d' \
        > /etc/ld.so.conf.d/llama-images-toolkit.conf && \
    ldconfig
ENV CCACHE_DIR=/root/.cache/ccache
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
# Everything, the core included, is built by oneAPI's icx/icpx (upstream's
# choice), so the core uses Intel's OpenMP runtime (libiomp5) from the base.
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    set -- && \
    if [ "${GGML_SYCL_F16}" = ON ]; then \
        set -- -DGGML_SYCL_F16=ON && \
        export SYCL_PROGRAM_COMPILE_OPTIONS="-cl-fp32-correctly-rounded-divide-sqrt"; \
    fi && \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build llama-server \
        -DGGML_NATIVE=OFF \
        -DGGML_SYCL=ON \
        -DCMAKE_C_COMPILER=icx \
        -DCMAKE_CXX_COMPILER=icpx \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON \
        -DLLAMA_BUILD_TESTS=OFF \
        "$@"
ARG VARIANT=intel
# Libraries only a GPU host's driver provides (the catalog's driver_libraries):
# none for Intel. The user-mode GPU drivers (the runtime stage installs them)
# and the oneAPI runtimes are in the image; the host gives only the kernel
# driver (i915 or xe) and /dev/dri.
ARG DRIVER_LIBRARIES=""
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" \
        "$VARIANT" ${DRIVER_LIBRARIES}

FROM ${RUNTIME_BASE} AS runtime
# Intel's user-mode GPU drivers, which the base lacks: the graphics compiler
# (IGC), the OpenCL and Level Zero drivers of the compute runtime, and gmmlib.
# Upstream's defaults; upstream notes that hosts with several GPUs need the
# older 25.40 compute runtime (ggml-org/llama.cpp#21747, intel/compute-runtime#921).
# The base already has wget (upstream downloads with it before installing anything).
ARG IGC_VERSION=v2.34.4
ARG IGC_VERSION_FULL=2_2.34.4+21428
ARG COMPUTE_RUNTIME_VERSION=26.18.38308.1
ARG COMPUTE_RUNTIME_VERSION_FULL=26.18.38308.1-0
ARG IGDGMM_VERSION=22.10.0
COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    /usr/local/lib/llama-base-images/apt-install.sh libgomp1 libssl3t64 && \
    mkdir /tmp/neo && cd /tmp/neo && \
    igc="https://github.com/intel/intel-graphics-compiler/releases/download/${IGC_VERSION}" && \
    neo="https://github.com/intel/compute-runtime/releases/download/${COMPUTE_RUNTIME_VERSION}" && \
    wget -q "$igc/intel-igc-core-${IGC_VERSION_FULL}_amd64.deb" && \
    wget -q "$igc/intel-igc-opencl-${IGC_VERSION_FULL}_amd64.deb" && \
    wget -q "$neo/intel-ocloc_${COMPUTE_RUNTIME_VERSION_FULL}_amd64.deb" && \
    wget -q "$neo/intel-opencl-icd_${COMPUTE_RUNTIME_VERSION_FULL}_amd64.deb" && \
    wget -q "$neo/libigdgmm12_${IGDGMM_VERSION}_amd64.deb" && \
    wget -q "$neo/libze-intel-gpu1_${COMPUTE_RUNTIME_VERSION_FULL}_amd64.deb" && \
    dpkg --install ./*.deb && \
    cd / && rm -r /tmp/neo
# The oneAPI libraries resolve without LD_LIBRARY_PATH (see the build stage).
RUN echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | sed '/^$/d' \
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
ARG VARIANT=intel
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
