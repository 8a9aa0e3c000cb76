"""The variant catalog: every table's keys are checked, a typo names the closest valid key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llama_images.errors import ProjectError
from llama_images.model.catalog import CATALOG_FILE, load_catalog
from tests.unit.conftest import REPO_ROOT

REAL_CATALOG = (REPO_ROOT / "base-images" / CATALOG_FILE).read_text()


def catalog_folder(tmp_path: Path, text: str) -> Path:
    """A base-images folder holding `text` as its catalog and an empty file per Dockerfile."""
    (tmp_path / CATALOG_FILE).write_text(text)
    for dockerfile in re.findall(r'^dockerfile = "(.+)"$', text, flags=re.MULTILINE):
        (tmp_path / dockerfile).touch()
    return tmp_path


def edited(before: str, after: str) -> str:
    assert before in REAL_CATALOG
    return REAL_CATALOG.replace(before, after, 1)


@pytest.mark.parametrize(
    ("text", "table", "key", "closest"),
    [
        ("variant = 1\n" + REAL_CATALOG, "the top level", "variant", "variants"),
        (edited('suite = "trixie"', 'suit = "trixie"'), "[offline]", "suit", "suite"),
        (
            edited('dockerfile = "cpu.Dockerfile"', 'dockerfle = "cpu.Dockerfile"'),
            "[variants.cpu]",
            "dockerfle",
            "dockerfile",
        ),
        (
            edited('build = "docker.io/ubuntu:24.04"', 'biuld = "docker.io/ubuntu:24.04"'),
            "[variants.cpu.bases]",
            "biuld",
            "build",
        ),
        (
            edited('device_log = "Vulkan0"', 'device_logs = "Vulkan0"'),
            "[variants.vulkan.smoke]",
            "device_logs",
            "device_log",
        ),
        (
            edited('toolkit_version = "12.4.1"', 'toolkit_versoin = "12.4.1"'),
            "[variants.cuda.offline]",
            "toolkit_versoin",
            "toolkit_version",
        ),
        (
            edited('toolkit = { name = "cuda"', 'toolkit = { nme = "cuda"'),
            "[variants.cuda.toolkit]",
            "nme",
            "name",
        ),
        (
            edited('composition = { core = "cpu" }', 'composition = { cores = "cpu" }'),
            "[variants.vulkan.composition]",
            "cores",
            "core",
        ),
    ],
)
def test_unknown_key_names_file_table_and_closest_key(
    tmp_path: Path, text: str, table: str, key: str, closest: str
) -> None:
    folder = catalog_folder(tmp_path, text)
    expected = (
        f"variant catalog {folder / CATALOG_FILE}: unknown key {key!r} in {table}: "
        f"did you mean {closest!r}?"
    )
    with pytest.raises(ProjectError) as raised:
        load_catalog(folder)
    assert raised.value.message == expected


def test_unknown_key_with_no_close_match_lists_the_valid_keys(tmp_path: Path) -> None:
    folder = catalog_folder(tmp_path, edited('suite = "trixie"', 'zzz = "trixie"'))
    with pytest.raises(
        ProjectError,
        match=r"unknown key 'zzz' in \[offline\]: use one of suite, components, image$",
    ):
        load_catalog(folder)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    folder = catalog_folder(tmp_path, edited('toolchain = "gcc-14"\n', ""))
    with pytest.raises(
        ProjectError, match=r"\[variants\.cpu\] lacks the required key 'toolchain': add it$"
    ):
        load_catalog(folder)


def test_runtime_package_reasons_take_any_package_name(tmp_path: Path) -> None:
    text = edited(
        "[runtime_package_reasons]\n", '[runtime_package_reasons]\nsome-package = "a reason"\n'
    ).replace('flavours = ["media"]\n', 'runtime_package_reasons = { libx = "y" }\n', 1)
    reasons = load_catalog(catalog_folder(tmp_path, text)).variants["cpu"].runtime_package_reasons
    assert reasons["some-package"] == "a reason"
    assert reasons["libx"] == "y"


def test_the_real_catalog_loads_typed() -> None:
    catalog = load_catalog(REPO_ROOT / "base-images")
    cuda = catalog.variants["cuda"]
    assert catalog.offline.components == ("main", "contrib", "non-free")
    assert cuda.platforms == ("linux/amd64", "linux/arm64")
    assert cuda.smoke.args == ("-ngl", "99")
    assert cuda.offline.supported is True
    assert cuda.offline.build_args["CUDA_DOCKER_ARCH"] == "90"
    assert cuda.dockerfile == REPO_ROOT / "base-images" / "cuda.Dockerfile"
    assert "ca-certificates" in catalog.variants["rocm"].runtime_package_reasons
    assert "ffmpeg" in catalog.variants["rocm"].runtime_package_reasons
