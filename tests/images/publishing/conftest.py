"""Fixtures of the publishing checks: loopback registries and the cpu image they publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.model.catalog import host_platform
from llama_images.testing.localregistry import LocalRegistry
from llama_images.testing.servers import ImageUnderTest
from tests.images.shared.registries import serve


@pytest.fixture(params=["htpasswd", "token"])
def registry_server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalRegistry]:
    yield from serve(tmp_path, request.param, monkeypatch)


@pytest.fixture
def token_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRegistry]:
    yield from serve(tmp_path, "token", monkeypatch)


@pytest.fixture(scope="session")
def cpu_runtime(runtime_image: ImageUnderTest) -> ImageUnderTest:
    if runtime_image.variant != "cpu":
        pytest.skip("publishing and signing are proven on the cpu image")
    if runtime_image.platform != host_platform():
        pytest.skip("publishing is proven on the host's image; test_multiplatform merges both")
    return runtime_image
