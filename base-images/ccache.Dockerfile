# Exports the ccache cache mount as an image, so that a fresh runner (whose
# engine has no cache mounts) can seed its builds from a registry. The image
# holds the cache at its root; variant Dockerfiles bind it at /ccache-seed.
# Built by `invoke export-ccache`; EXPORT_ID changes on every export so the
# copy is never answered from the layer cache.
ARG BUILD_BASE=docker.io/ubuntu:24.04

FROM ${BUILD_BASE} AS collect
ARG EXPORT_ID
RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache \
    echo "export $EXPORT_ID" && mkdir /ccache && cp -a /root/.cache/ccache/. /ccache/ && \
    rm -f /ccache/ccache.conf && du -sh /ccache

FROM scratch AS ccache
COPY --from=collect /ccache/ /
