"""The `server` target run the way platforms run containers.

An arbitrary UID in group 0 (OpenShift's default), a read-only root file system
with only /tmp writable, every capability dropped and no-new-privileges: still
healthy and serving. The model cache (LLAMA_CACHE) is writable by such a user
when mounted as a volume, and `docker stop` ends the server through SIGTERM.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.testing.servers import (
    CACHE_MOUNT,
    ImageUnderTest,
    RunningServer,
    serve_variant,
)
from llama_images.testing.tinymodel import MODEL_NAME
from tests.images.shared.servers import MODEL

ARBITRARY_USER = "4242:0"
HARDENED: dict[str, Any] = {
    "read_only": True,
    "tmpfs": {"/tmp": "rw,size=64m"},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}
# What `docker kill` leaves: the engine's SIGKILL after the stop timeout ran out.
KILLED = 137


@pytest.fixture(scope="module")
def hardened(
    engine: Engine, server_image: ImageUnderTest, model_dir: Path, smoke: Smoke
) -> Iterator[RunningServer]:
    with serve_variant(
        engine,
        server_image.ref,
        model_dir,
        smoke,
        ["-m", MODEL],
        user=ARBITRARY_USER,
        run_options=HARDENED,
    ) as running:
        running.wait_healthy()
        yield running


def test_hardened_run_is_healthy_and_chats(hardened: RunningServer) -> None:
    assert hardened.health() == "healthy"
    reply = hardened.post(
        "/v1/chat/completions",
        {"model": MODEL_NAME, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply["choices"][0]["message"]["content"] is not None
    top = hardened.processes("uid,gid,comm")
    assert [row[1:3] for row in top if "llama-server" in row[3]] == [["4242", "0"]], top


def test_model_cache_is_the_documented_group_writable_volume(
    engine: Engine, server_image: ImageUnderTest, smoke: Smoke
) -> None:
    """A fresh named volume at LLAMA_CACHE takes the image's folder: group 0 may write."""
    env = dict(e.split("=", 1) for e in engine.image_config(server_image.ref).get("Env", []))
    assert env.get("LLAMA_CACHE") == CACHE_MOUNT
    with engine.volume() as volume:
        code, output = engine.run(
            server_image.ref,
            ["-c", 'touch "$LLAMA_CACHE/probe" && ls -ld "$LLAMA_CACHE"'],
            entrypoint=["/bin/sh"],
            user=ARBITRARY_USER,
            volumes={volume: {"bind": CACHE_MOUNT, "mode": "rw"}},
            **HARDENED,
        )
    assert code == 0, output
    assert output.split()[0] == "drwxrws---", output


def test_docker_stop_ends_the_server_through_sigterm(
    engine: Engine, server_image: ImageUnderTest, model_dir: Path, smoke: Smoke, server_cache: str
) -> None:
    with serve_variant(
        engine, server_image.ref, model_dir, smoke, ["-m", MODEL], cache_volume=server_cache
    ) as running:
        running.wait_ready()
        running.stop(timeout=60)
        code = running.wait_exit()
        log = running.logs()
    assert code != KILLED, log[-2000:]
    assert "cleaning up before exit" in log, log[-2000:]
