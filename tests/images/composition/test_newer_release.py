"""A composed folder serves on a newer release of the distribution it was built on.

With upstream's bases a GPU variant composes on a cpu core built on an older
release of the same distribution (vulkan on Ubuntu 26.04 over the 24.04 core:
building/plan.py `choose_core`). Here every offline image is built on one Debian
release, so the composed folder is served on the newest Debian suite the catalog
builds on, with only the variant's runtime packages installed from that suite.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.building.bases import BaseResolver
from llama_images.building.plan import runs_on, toolchain_family
from llama_images.model.catalog import Catalog, OfflineBase
from llama_images.model.metadata import OCI
from llama_images.testing.servers import ImageUnderTest, serve_variant
from llama_images.testing.tinymodel import MODEL_NAME

REPOSITORY = "llama-images-test/newer-release"
GREEDY = {"prompt": "Once upon a time", "n_predict": 16, "temperature": 0, "seed": 7}


def newest_offline_base(catalog: Catalog, built_on: str) -> OfflineBase:
    """The catalog's newest offline suite that is newer than the one `built_on` names."""
    bases = [catalog.offline.for_variant(v.offline) for v in catalog.variants.values()]
    newer = [
        base
        for base in bases
        if toolchain_family(base.ref) != toolchain_family(built_on)
        and runs_on(toolchain_family(built_on), toolchain_family(base.ref))
    ]
    if not newer:
        pytest.skip(f"the catalog builds on no Debian suite newer than {built_on}")
    return newer[-1]


def glibc(engine: Engine, image: str) -> str:
    code, output = engine.run(image, ["ldd", "--version"], entrypoint=[], user="0")
    assert code == 0, output
    return output.splitlines()[0].rsplit(" ", 1)[-1]


@pytest.fixture(scope="module")
def on_newer_release(engine: Engine, composed: ImageUnderTest, catalog: Catalog) -> str:
    """The composed folder on the newer suite, with the variant's runtime packages."""
    built_on = composed.labels[f"{OCI}.base.name"]
    if not built_on.startswith(catalog.offline.image):
        pytest.skip(f"{composed.ref} is built on {built_on}, not on the offline Debian base")
    base = newest_offline_base(catalog, built_on)
    resolver = BaseResolver(engine, catalog.offline, mode="offline")
    base_ref = resolver.ensure_offline_base(base)
    packages = " ".join(catalog.variants[composed.variant].recipe.runtime_packages)
    ref = f"{REPOSITORY}:{composed.variant}-{base.suite}"
    with tempfile.TemporaryDirectory(prefix="llama-images-newer-") as tmp:
        dockerfile = Path(tmp) / "Dockerfile"
        dockerfile.write_text(
            f"FROM {base_ref}\n"
            "RUN apt-get update -q && apt-get install -y -q --no-install-recommends "
            f"{packages} && rm -rf /var/lib/apt/lists/*\n"
            f"COPY --from={composed.ref} /app/ /app/\n"
        )
        request = BuildRequest(dockerfile, Path(tmp), "", "", {}, {})
        with (Path(tmp) / "build.log").open("w") as log:
            image_id = engine.build(request, log)
    engine.tag(image_id, ref)
    return ref


def test_composed_folder_serves_on_a_newer_release(
    engine: Engine,
    composed: ImageUnderTest,
    on_newer_release: str,
    catalog: Catalog,
    model_dir: Path,
    metrics: dict[str, float],
) -> None:
    built_with, runs_with = glibc(engine, composed.ref), glibc(engine, on_newer_release)
    assert runs_with != built_with, f"both releases have glibc {built_with}"
    smoke = catalog.variants[composed.variant].smoke
    with serve_variant(
        engine,
        on_newer_release,
        model_dir,
        smoke,
        ["-m", f"/models/{MODEL_NAME}", "--host", "0.0.0.0", "--port", "8080", "-lv", "4"],
        run_options={"entrypoint": [composed.server_path]},
    ) as server:
        metrics["seconds to ready"] = server.wait_ready()
        reply = server.post("/completion", GREEDY)
        mapped = server.mapped_libraries()
        log = server.logs()
    assert reply["content"], f"nothing generated on glibc {runs_with}"
    for module in catalog.variants[composed.variant].backend_modules:
        assert any(path.startswith(f"{composed.folder}/{module}") for path in mapped), (
            f"{module} not loaded from {composed.folder} on glibc {runs_with}"
        )
    print(f"built on glibc {built_with}, served on glibc {runs_with}")
    if smoke.device_log:  # listed at verbosity 4, padded: "- Vulkan0 :"
        assert re.search(rf"- {re.escape(smoke.device_log)} *:", log), log[-3000:]
