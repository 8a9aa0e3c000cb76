"""GPU device nodes and the non-root server: a device owned by a group (the host's `video` or
`render`) opens only when that group is given with `--group-add`, as the README's table says."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.testing.servers import ImageUnderTest

# A group id no image defines, standing in for the host's `render` group.
HOST_RENDER_GID = 44321
IN_CONTAINER = "/dev/dri/renderD128"
OPEN_FOR_READING = f"exec 3<{IN_CONTAINER} && echo opened"


@pytest.fixture
def render_node(tmp_path: Path) -> Iterator[Path]:
    """A character device (the null device's numbers) owned by root:render, mode 0660."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    node = tmp_path / "renderD128"
    os.mknod(node, 0o660 | 0o020000, os.makedev(1, 3))
    os.chown(node, 0, HOST_RENDER_GID)
    os.chmod(node, 0o660)
    yield node


def test_group_add_lets_the_server_user_open_a_device(
    engine: Engine, server_image: ImageUnderTest, render_node: Path
) -> None:
    device = [f"{render_node}:{IN_CONTAINER}:rwm"]
    code, output = engine.run(
        server_image.ref,
        ["-c", OPEN_FOR_READING],
        entrypoint=["/bin/sh"],
        devices=device,
        group_add=[str(HOST_RENDER_GID)],
    )
    assert code == 0 and "opened" in output, output
    code, output = engine.run(
        server_image.ref, ["-c", OPEN_FOR_READING], entrypoint=["/bin/sh"], devices=device
    )
    assert code != 0 and "Permission denied" in output, output
