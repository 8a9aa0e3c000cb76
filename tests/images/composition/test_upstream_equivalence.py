"""A composed image answers the model exactly as upstream's own recipe, built their way, does.

The reference is upstream's recipe for the variant at the pin, built on the
composed image's base (llama_images.testing.upstream_recipes): it compiles
everything in one tree, about 15 minutes cold on 2 cores. So this check runs
only when asked for (`nox -s equivalence`, or --equivalence), and in the bench,
never in `make test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.adapters.source import fetch_source
from llama_images.model.catalog import Catalog
from llama_images.model.metadata import OCI
from llama_images.model.project import Project
from llama_images.testing.equivalence import answers, differences
from llama_images.testing.servers import ImageUnderTest
from llama_images.testing.upstream_recipes import UpstreamImage, build_upstream

pytestmark = pytest.mark.equivalence


@pytest.fixture(scope="session")
def upstream_image(
    engine: Engine, project: Project, catalog: Catalog, composed: ImageUnderTest
) -> UpstreamImage:
    """Upstream's recipe for the variant, built their way on the composed image's base."""
    if "GGML_BACKEND_DL" in catalog.variants[composed.variant].extra_cmake_flags:
        pytest.skip(
            f"upstream's {composed.variant} recipe links its backends into libggml: "
            "it loads no backend module to compare with"
        )
    source = fetch_source(project.pin(), project.settings.cache_path, project.settings.source_path)
    return build_upstream(
        engine,
        source.path,
        catalog.variants[composed.variant].upstream_dockerfile,
        composed.variant,
        project.pin().short_commit,
        composed.labels[f"{OCI}.base.name"],
        project.settings.cache_path / "upstream-recipes",
    )


def test_composed_image_answers_as_upstreams_build(
    engine: Engine,
    composed: ImageUnderTest,
    upstream_image: UpstreamImage,
    model_dir: Path,
    catalog: Catalog,
    metrics: dict[str, float],
) -> None:
    variant = catalog.variants[composed.variant]
    ours, theirs = answers(engine, composed.ref, upstream_image.ref, model_dir, variant.smoke)
    metrics["tokens/s"] = ours.tokens_per_s
    metrics["upstream tokens/s"] = theirs.tokens_per_s
    assert not differences(ours, theirs, variant.backend_modules)
