"""The variant catalog: every table's keys are checked, a typo names the closest valid key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llama_images.errors import ProjectError
from llama_images.model.catalog import CATALOG_FILE, load_catalog, toolkit_version
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
        match=(
            r"unknown key 'zzz' in \[offline\]: "
            r"use one of suite, components, image, check_valid_until$"
        ),
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


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (
            'wheel = "openvino-2026.2.1-21919-cp312-cp312-manylinux_2_28_x86_64.whl"',
            'wheel = "openvino.zip"',
            "[variants.openvino.toolkit] wheel 'openvino.zip' is no wheel's file name",
        ),
        ('sha256 = "efae5ceb', 'sha256 = "EFAE5CEB', "is not 64 lowercase hex digits"),
        (
            'toolkit = { name = "openvino", ',
            'toolkit = { name = "openvino", version_arg = "OPENVINO_VERSION_MAJOR", ',
            "has a wheel: its version is the wheel's, drop version_arg",
        ),
    ],
)
def test_a_bad_toolkit_wheel_pin_is_named(
    tmp_path: Path, before: str, after: str, message: str
) -> None:
    with pytest.raises(ProjectError) as raised:
        load_catalog(catalog_folder(tmp_path, edited(before, after)))
    assert message in raised.value.message


def test_a_wheel_toolkit_has_its_wheels_version_under_every_profile() -> None:
    openvino = load_catalog(REPO_ROOT / "base-images").variants["openvino"]
    assert openvino.toolkit.wheel_project == "openvino"
    assert toolkit_version(openvino, "upstream") == "2026.2.1"
    assert toolkit_version(openvino, "offline") == "2026.2.1"
    assert openvino.is_toolkit_library("libopenvino_intel_cpu_plugin.so")
    assert openvino.is_toolkit_library("libtbb.so.12")
    assert not openvino.is_toolkit_library("libggml-openvino.so")


def test_compile_first_names_one_object(tmp_path: Path) -> None:
    first = 'compile_first = { "ggml/src/ggml-vulkan/CMakeFiles/ggml-vulkan.dir/ggml-vulkan.cpp.o"'
    text = edited(first, first.replace("{ ", '{ "a.o" = "b.hpp", '))
    with pytest.raises(ProjectError) as raised:
        load_catalog(catalog_folder(tmp_path, text))
    assert raised.value.message.endswith(
        "[variants.vulkan.recipe] compile_first names 2 objects: compile.sh starts one early"
    )
