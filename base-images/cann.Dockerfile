# llama-server with the CANN backend (Huawei Ascend NPUs), derived from upstream's
# .devops/cann.Dockerfile. The base is openEuler 24.03 (RPM, gcc 12, its own
# glibc), so everything, the core included, is built here with its toolchain.
# Build context (staged by `invoke build-local`):
#   llama.cpp/                  the pinned, verified llama.cpp source
#   base-images/scripts/        the scripts every variant shares
#   meta/<variant>/<platform>/version.json rendered by the build plan
# Upstream's global ARGs and defaults; CANN_VERSION is ours, named out of
# upstream's CANN_BASE_IMAGE (which resolves to the same image) so the
# toolkit version can be reported.
ARG CHIP_TYPE=910b
ARG CANN_VERSION=8.5.0
ARG CANN_BASE_IMAGE=quay.io/ascend/cann:${CANN_VERSION}-${CHIP_TYPE}-openeuler24.03-py3.11
# Upstream builds and runs on the same CANN image.
ARG BUILD_BASE=${CANN_BASE_IMAGE}
ARG RUNTIME_BASE=${CANN_BASE_IMAGE}

FROM ${BUILD_BASE} AS build
ARG TARGETARCH
# The Ascend chip to build for (SOC_TYPE ascend<CHIP_TYPE>). Changing it also
# needs that chip's base image, and 310p needs USE_ACL_GRAPH off.
ARG CHIP_TYPE
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
RUN --mount=type=cache,id=llama-images-dnf-cache,target=/var/cache/dnf,sharing=locked \
    /usr/local/lib/llama-base-images/yum-install.sh \
        gcc gcc-c++ make cmake git openssl-devel ccache binutils
# How the CANN libraries (libascendcl, libnnopbase, libopapi,
# libacl_op_compiler and what they need) are found: every directory the base
# puts on LD_LIBRARY_PATH (its ENV, copied from the toolkit's set_env.sh) is
# registered with the dynamic linker, so they resolve with LD_LIBRARY_PATH
# unset, as package.sh checks. Our own libraries use RUNPATH $ORIGIN alone.
RUN echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | sed '/^$/d' \
        > /etc/ld.so.conf.d/llama-images-toolkit.conf && \
    ldconfig
ENV CCACHE_DIR=/root/.cache/ccache
COPY llama.cpp/ /src/llama.cpp/
ARG LLAMA_BUILD_NUMBER
ARG LLAMA_BUILD_COMMIT
# As upstream: the toolkit's environment (ggml-cann finds CANN through
# ASCEND_TOOLKIT_HOME), plus the toolkit's stub of the host driver's
# libascend_hal.so for the linker, for this step only.
# Beyond upstream's flags, as every variant here: GGML_BACKEND_DL and
# GGML_CPU_ALL_VARIANTS, so the CANN backend is a module beside the CPU
# modules (and the cpu fallback folder can exist); GGML_NATIVE=OFF, so the
# CPU code does not depend on the build machine's processor; no tests.
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    . /usr/local/Ascend/ascend-toolkit/set_env.sh --force && \
    export LD_LIBRARY_PATH="/usr/local/Ascend/ascend-toolkit/latest/runtime/lib64/stub:${LD_LIBRARY_PATH:-}" && \
    /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp /src/build llama-server \
        -DGGML_CANN=ON \
        -DSOC_TYPE=ascend${CHIP_TYPE} \
        -DUSE_ACL_GRAPH=ON \
        -DGGML_NATIVE=OFF \
        -DGGML_BACKEND_DL=ON \
        -DGGML_CPU_ALL_VARIANTS=ON \
        -DLLAMA_BUILD_TESTS=OFF
ARG VARIANT=cann
# Libraries only a host with an Ascend driver provides (the catalog's
# driver_libraries): the CANN runtime links the driver's libascend_hal.so,
# which the host's driver tree (/usr/local/Ascend/driver/lib64) supplies when
# mounted into the container; no image carries it.
ARG DRIVER_LIBRARIES="libascend_hal.so"
RUN /usr/local/lib/llama-base-images/package.sh /src/build/bin \
        "/out/app/bin/$(/usr/local/lib/llama-base-images/triple.sh "$TARGETARCH")" \
        "$VARIANT" ${DRIVER_LIBRARIES}

FROM ${RUNTIME_BASE} AS runtime
COPY base-images/scripts/yum-install.sh /usr/local/lib/llama-base-images/
# openEuler's names: libgomp, and openssl-libs for libssl.so.3.
RUN --mount=type=cache,id=llama-images-dnf-cache,target=/var/cache/dnf,sharing=locked \
    /usr/local/lib/llama-base-images/yum-install.sh libgomp openssl-libs
# The CANN libraries resolve without LD_LIBRARY_PATH (see the build stage).
RUN echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | sed '/^$/d' \
        > /etc/ld.so.conf.d/llama-images-toolkit.conf && \
    ldconfig
# A base layer has no ENTRYPOINT: the CANN base's one (bash sourcing the
# toolkit's set_env.sh scripts) is cleared. The base's ENV already carries the
# toolkit's environment (ASCEND_TOOLKIT_HOME, ASCEND_OPP_PATH, PATH, ...).
ENTRYPOINT []
CMD ["/bin/bash"]
COPY --from=build /out/app/ /app/
ARG VERSION_JSON
COPY ${VERSION_JSON} /app/version.json

FROM runtime AS server
ARG TARGETARCH
ARG VARIANT=cann
ARG LLAMA_UID=10001
ARG LLAMA_GID=10001
COPY base-images/scripts/ /usr/local/lib/llama-base-images/
# useradd and groupadd, named by path so yum finds whichever package has them.
RUN --mount=type=cache,id=llama-images-dnf-cache,target=/var/cache/dnf,sharing=locked \
    /usr/local/lib/llama-base-images/yum-install.sh curl ca-certificates /usr/sbin/useradd && \
    /usr/local/lib/llama-base-images/server-setup.sh "$TARGETARCH" "$VARIANT" "$LLAMA_UID" "$LLAMA_GID"
ENV LLAMA_ARG_HOST=0.0.0.0 LLAMA_ARG_PORT=8080
USER ${LLAMA_UID}:${LLAMA_GID}
WORKDIR /home/llama
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/usr/local/lib/llama-base-images/healthcheck.sh"]
ENTRYPOINT ["/usr/local/bin/llama-server"]
