"""The checks catch broken images: derived images with one defect each must fail them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.model.metadata import project_label
from llama_images.testing.servers import MODEL_MOUNT, ImageUnderTest, ServerFailed, run_server
from llama_images.testing.tinymodel import MODEL_NAME
from tests.images.shared.libraries import unresolved_libraries


def derive(engine: Engine, base: ImageUnderTest, tmp_path: Path, steps: str) -> str:
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(f"ARG BASE\nFROM ${{BASE}}\n{steps}\n")
    request = BuildRequest(
        dockerfile=context / "Dockerfile",
        context=context,
        target="",
        platform=base.labels[project_label("platform")],
        build_args={"BASE": base.ref},
        labels={},
    )
    return engine.build(request, io.StringIO())


@pytest.fixture
def cpu_server(server_image: ImageUnderTest) -> ImageUnderTest:
    if server_image.variant != "cpu":
        pytest.skip("the defects are planted in the cpu image")
    return server_image


@pytest.fixture
def missing_library(engine: Engine, cpu_server: ImageUnderTest, tmp_path: Path) -> Iterator[str]:
    image_id = derive(
        engine,
        cpu_server,
        tmp_path,
        f"USER root\nRUN rm {cpu_server.folder}/libggml-base.so.0.*\nUSER 10001",
    )
    yield image_id
    engine.remove_image(image_id)


def test_missing_library_fails_the_library_check(
    engine: Engine, cpu_server: ImageUnderTest, missing_library: str
) -> None:
    broken = ImageUnderTest(
        missing_library,
        cpu_server.variant,
        cpu_server.target,
        cpu_server.version,
        cpu_server.triple,
        cpu_server.labels,
    )
    code, output = unresolved_libraries(engine, broken, broken.folder)
    assert code != 0
    assert "libggml-base.so.0 not found" in output, output


def test_missing_library_server_never_healthy_and_says_why(
    engine: Engine, missing_library: str, model_dir: Path
) -> None:
    with (
        run_server(
            engine, missing_library, model_dir, args=["-m", f"{MODEL_MOUNT}/{MODEL_NAME}"]
        ) as running,
        pytest.raises(ServerFailed) as failure,
    ):
        running.wait_healthy(timeout=60)
    assert "libggml-base.so.0" in failure.value.message, failure.value.message


def test_healthcheck_on_the_wrong_port_is_caught(
    engine: Engine, cpu_server: ImageUnderTest, model_dir: Path, tmp_path: Path
) -> None:
    image_id = derive(
        engine,
        cpu_server,
        tmp_path,
        "HEALTHCHECK --interval=1s --timeout=1s --start-period=1s --retries=2 "
        "CMD curl -fsS -o /dev/null http://127.0.0.1:9999/health || exit 1",
    )
    try:
        with run_server(
            engine, image_id, model_dir, args=["-m", f"{MODEL_MOUNT}/{MODEL_NAME}"]
        ) as running:
            with pytest.raises(ServerFailed) as failure:
                running.wait_healthy(timeout=60)
            # The server itself is fine (once loaded: slower under emulation): only its
            # HEALTHCHECK is wrong.
            running.wait_ready(timeout=60)
    finally:
        engine.remove_image(image_id)
    assert "HEALTHCHECK reports unhealthy" in failure.value.message
    assert "9999" in failure.value.message, failure.value.message
