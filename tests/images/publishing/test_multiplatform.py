"""A real multi-platform tag: the cpu server built for amd64 and cross-built for arm64, both
pushed to a registry that requires a login over TLS, merged into one index, and pulled per
platform; the arm64 image pulled that way serves the tiny model under emulation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.adapters.registry import Registry
from llama_images.commands.publish import ImageGroup, publish_groups
from llama_images.commands.supply_chain import Signing
from llama_images.model.catalog import Smoke, host_platform
from llama_images.model.metadata import project_label
from llama_images.model.version import BuildVersion
from llama_images.testing.localregistry import LocalRegistry
from llama_images.testing.servers import ImageUnderTest, images_for_version, serve_variant
from llama_images.testing.tinymodel import MODEL_NAME
from tests.images.shared.registries import NAME, serve
from tests.images.shared.servers import MODEL

FOREIGN = "linux/arm64"


@pytest.fixture
def htpasswd_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRegistry]:
    yield from serve(tmp_path, "htpasswd", monkeypatch)


@pytest.fixture(scope="session")
def platform_pair(engine: Engine, server_image: ImageUnderTest) -> dict[str, ImageUnderTest]:
    """The arm64 cpu server under test and the host's of the same version."""
    if server_image.variant != "cpu" or server_image.platform != FOREIGN:
        pytest.skip(f"the merge is proven on the {FOREIGN} cpu server with the host's")
    native = [
        image
        for image in images_for_version(engine, server_image.version)
        if (image.variant, image.target, image.platform) == ("cpu", "server", host_platform())
    ]
    if not native:
        pytest.skip(f"no {host_platform()} cpu server of {server_image.version} to merge with")
    return {host_platform(): native[0], FOREIGN: server_image}


def test_both_platforms_merge_into_one_tag_that_serves_per_platform(
    engine: Engine,
    platform_pair: dict[str, ImageUnderTest],
    htpasswd_registry: LocalRegistry,
    signing: Signing,
    model_dir: Path,
    smoke: Smoke,
    metrics: dict[str, float],
) -> None:
    registry = Registry(htpasswd_registry.host)
    repository = f"{htpasswd_registry.host}/{NAME}"
    foreign = platform_pair[FOREIGN]
    version = BuildVersion.parse(foreign.version)
    local = ImageGroup("cpu", "server", {p: image.ref for p, image in platform_pair.items()})
    pushed = publish_groups(
        engine, registry, repository, version, [local], mode="push", signing=None
    )
    assert pushed[0].status == "pushed", pushed[0].error
    merged = ImageGroup("cpu", "server", {platform: "" for platform in platform_pair})
    build = int(foreign.labels[project_label("llama-cpp.build-number")])
    result = publish_groups(
        engine,
        registry,
        repository,
        version,
        [merged],
        mode="merge",
        llama_build=build,
        signing=signing,
    )[0]
    assert result.status == "published", result.error
    assert set(result.platforms) == set(platform_pair)

    tag = f"{repository}:cpu-server-{version}"
    for platform, built in platform_pair.items():
        engine.untag(tag)
        engine.pull(tag, auth=registry.engine_auth(), platform=platform)
        labels = engine.image_labels(tag)
        assert labels[project_label("platform")] == platform
        assert labels[project_label("triple")] == built.triple
        assert engine.image_config(tag).get("Env") == engine.image_config(built.ref).get("Env")
    # The tag now holds the arm64 image, pulled last: it serves under emulation.
    try:
        with serve_variant(engine, tag, model_dir, smoke, ["-m", MODEL]) as server:
            metrics["emulated_time_to_healthy_s"] = server.wait_healthy()
            reply = server.post(
                "/v1/chat/completions",
                {
                    "model": MODEL_NAME,
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            assert reply["choices"][0]["message"]["content"] is not None
            assert any("/libggml-cpu-armv" in path for path in server.mapped_libraries())
    finally:
        engine.untag(tag)
