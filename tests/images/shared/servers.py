"""The tiny model's path in a container, and how server checks start the variant's server
and wait for it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.testing.servers import (
    MODEL_MOUNT,
    ImageUnderTest,
    RunningServer,
    ServerFailed,
    serve_variant,
)
from llama_images.testing.tinymodel import MODEL_NAME

MODEL = f"{MODEL_MOUNT}/{MODEL_NAME}"
PARALLEL = 4
CONTEXT = 2048


def variant_server(
    engine: Engine,
    image: ImageUnderTest,
    model_dir: Path,
    smoke: Smoke,
    args: list[str] | None,
    environment: dict[str, str] | None = None,
    container_port: int = 8080,
    cache_volume: str | None = None,
) -> contextlib.AbstractContextManager[RunningServer]:
    """`cache_volume`: the session's server cache (see the `server_cache` fixture), so that a
    Mesa driver compiles its shaders once per run rather than once per server."""
    return serve_variant(
        engine,
        image.ref,
        model_dir,
        smoke,
        args,
        environment,
        container_port=container_port,
        cache_volume=cache_volume,
    )


def wait_healthy_or_show_log(server: RunningServer) -> float:
    """The seconds until the server is healthy; a server that fails first has its log printed
    (pytest shows it with the failure), then the failure is raised."""
    try:
        return server.wait_healthy()
    except ServerFailed as exc:
        print(exc.log)
        raise
