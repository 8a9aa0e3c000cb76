"""A Mesa Vulkan driver's compiled shaders (lavapipe here; RADV and ANV on real GPUs) live in
the cache volume: a server restarted on the same volume compiles none of them again."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.testing.servers import CACHE_MOUNT, ImageUnderTest, RunningServer
from tests.images.shared.servers import MODEL, variant_server

SHADER_CACHE_ENV = "MESA_SHADER_CACHE_DIR"


def shader_files(server: RunningServer, folder: str) -> list[str]:
    """Every file of the shader cache with its size, as the server's user sees it."""
    code, output = server.engine.exec_in(
        server.container, ["find", folder, "-type", "f", "-printf", "%P %s\\n"]
    )
    assert code == 0, output
    return sorted(output.splitlines())


def test_shaders_are_compiled_once_per_cache_volume(
    engine: Engine,
    server_image: ImageUnderTest,
    model_dir: Path,
    smoke: Smoke,
    metrics: dict[str, float],
) -> None:
    env = dict(e.split("=", 1) for e in engine.image_config(server_image.ref).get("Env", []))
    folder = env.get(SHADER_CACHE_ENV)
    if folder is None:
        pytest.skip(f"no Mesa driver in this variant (no {SHADER_CACHE_ENV})")
    assert folder.startswith(f"{CACHE_MOUNT}/"), f"{SHADER_CACHE_ENV}={folder} is outside the cache"
    listings: list[list[str]] = []
    with engine.volume() as volume:
        for start in ("first", "second"):
            with variant_server(
                engine, server_image, model_dir, smoke, ["-m", MODEL], cache_volume=volume
            ) as running:
                metrics[f"{start}_start_healthy_s"] = running.wait_healthy()
                listings.append(shader_files(running, folder))
    first, second = listings
    assert first, f"the first server left no compiled shader in {folder}"
    assert second == first, f"the second server compiled shaders again: {set(second) - set(first)}"
