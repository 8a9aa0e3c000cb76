"""The tiny model's path in a container, and how server checks start the variant's server."""

from __future__ import annotations

import contextlib
from pathlib import Path

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.testing.servers import MODEL_MOUNT, ImageUnderTest, RunningServer, serve_variant
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
) -> contextlib.AbstractContextManager[RunningServer]:
    return serve_variant(
        engine, image.ref, model_dir, smoke, args, environment, container_port=container_port
    )
