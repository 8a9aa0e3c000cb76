"""A composed image holds exactly the cpu image's core and adds only its backend module.

How it answers against upstream's own build of the variant is proven apart, in
test_upstream_equivalence (`nox -s equivalence`), since that builds upstream's recipe.
"""

from __future__ import annotations

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Catalog
from llama_images.model.project import Project
from llama_images.testing.servers import ImageUnderTest


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
    variant = catalog.variants[composed.variant]
    added = {name for name in set(mine) - set(fallback) if not variant.is_toolkit_library(name)}
    assert added == set(variant.backend_modules)
    assert set(fallback) == set(core)
    for name, (inode, digest) in fallback.items():
        assert digest == core[name][1], f"{name} differs from the cpu image's core"
        assert mine[name] == (inode, digest), f"{name} is a copy, not the same file"
