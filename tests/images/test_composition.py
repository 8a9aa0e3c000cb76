"""A composed image (the cpu core plus one backend module) against upstream's way of building.

The reference is upstream's own recipe at the pin, built on the same base
(llama_images.testing.upstream_recipes): it compiles everything in one tree. The
composed image must hold exactly the cpu image's core, add only its module,
and answer the model exactly as the reference does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.adapters.source import fetch_source
from llama_images.model.catalog import Catalog
from llama_images.model.metadata import OCI, project_label
from llama_images.model.project import Project
from llama_images.testing.servers import ImageUnderTest, RunningServer, host_can_run, run_server
from llama_images.testing.tinymodel import MODEL_NAME
from llama_images.testing.upstream_recipes import UpstreamImage, build_upstream

MODEL = f"/models/{MODEL_NAME}"
GREEDY = {"prompt": "Once upon a time", "n_predict": 32, "temperature": 0, "seed": 7}


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


@pytest.fixture(scope="session")
def upstream_image(
    engine: Engine, project: Project, catalog: Catalog, composed: ImageUnderTest
) -> UpstreamImage:
    """Upstream's recipe for the variant, built their way on the composed image's base."""
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


def folder_listing(engine: Engine, image: str, folder: str) -> dict[str, tuple[str, str]]:
    """name -> (inode, sha256) of every file in a folder; links are followed (stat -L)."""
    line = 'echo "$f $(stat -L -c %i "$f") $(sha256sum < "$f")"'
    code, output = engine.run(
        image,
        ["-c", f"cd {folder} && for f in *; do {line}; done"],
        entrypoint=["/bin/sh"],
        user="0",
    )
    assert code == 0, output
    listing = {}
    for line in output.splitlines():
        name, inode, digest = line.split()[:3]
        listing[name] = (inode, digest)
    return listing


def test_composed_folder_is_the_cpu_core_plus_its_module(
    engine: Engine, composed: ImageUnderTest, catalog: Catalog, project: Project
) -> None:
    root = composed.folder.rsplit("/", 1)[0]
    mine = folder_listing(engine, composed.ref, composed.folder)
    fallback = folder_listing(engine, composed.ref, f"{root}/cpu")
    core = folder_listing(engine, f"{project.settings.repo}:cpu-{composed.version}", f"{root}/cpu")
    modules = set(catalog.variants[composed.variant].backend_modules)
    assert set(mine) - set(fallback) == modules
    assert set(fallback) == set(core)
    for name, (inode, digest) in fallback.items():
        assert digest == core[name][1], f"{name} differs from the cpu image's core"
        assert mine[name] == (inode, digest), f"{name} is a copy, not the same file"


@contextlib.contextmanager
def start(
    engine: Engine, image: str, model_dir: Path, composed: ImageUnderTest, catalog: Catalog
) -> Iterator[RunningServer]:
    smoke = catalog.variants[composed.variant].smoke
    with run_server(
        engine,
        image,
        model_dir,
        args=["-m", MODEL, "--port", "8080", *smoke.args],
        environment=dict(smoke.environment),
        requires=smoke.requires,
    ) as server:
        yield server


def answer(server: RunningServer) -> tuple[str, float, list[str]]:
    server.wait_ready()
    reply = server.post("/completion", GREEDY)
    modules = sorted(
        path.rsplit("/", 1)[-1] for path in server.mapped_libraries() if "/libggml-" in path
    )
    return reply["content"], float(reply["timings"]["predicted_per_second"]), modules


def test_composed_image_answers_as_upstreams_build(
    engine: Engine,
    composed: ImageUnderTest,
    upstream_image: UpstreamImage,
    model_dir: Path,
    catalog: Catalog,
    metrics: dict[str, float],
) -> None:
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(start(engine, composed.ref, model_dir, composed, catalog))
        theirs = stack.enter_context(
            start(engine, upstream_image.ref, model_dir, composed, catalog)
        )
        our_text, our_speed, our_modules = answer(ours)
        their_text, their_speed, their_modules = answer(theirs)
    metrics["tokens/s"] = our_speed
    metrics["upstream tokens/s"] = their_speed
    assert our_text, "the composed image generated nothing"
    assert our_text == their_text
    assert our_modules == their_modules
    for module in catalog.variants[composed.variant].backend_modules:
        assert module in our_modules
