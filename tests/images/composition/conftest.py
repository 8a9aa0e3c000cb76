"""The GPU images that reuse the cpu image's core: what the composition checks compare."""

from __future__ import annotations

import pytest

from llama_images.model.catalog import Catalog
from llama_images.model.metadata import project_label
from llama_images.testing.servers import ImageUnderTest, host_can_run


@pytest.fixture(scope="session")
def composed(gpu_image: ImageUnderTest, catalog: Catalog) -> ImageUnderTest:
    if gpu_image.target != "server":
        pytest.skip("the composition is compared on server images")
    if gpu_image.labels.get(project_label("core")) != "cpu":
        pytest.skip(f"{gpu_image.ref} does not reuse the cpu core")
    reason = host_can_run(catalog.variants[gpu_image.variant].smoke.requires)
    if reason:
        pytest.skip(f"{gpu_image.ref} {reason}; a host that has it runs this check")
    return gpu_image
