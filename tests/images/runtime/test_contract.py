"""The image contract of DESIGN.md, checked on every built image."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Catalog, toolchain, toolkit_version
from llama_images.model.metadata import (
    LABEL_TO_JSON,
    OCI,
    VERSION_JSON_PATH,
    label_text,
    project_label,
)
from llama_images.model.project import Project
from llama_images.testing.servers import ImageUnderTest
from tests.images.shared.libraries import run_in, unresolved_libraries

_EXPORTS: dict[str, Path] = {}


def exported_app(engine: Engine, image: ImageUnderTest, tmp_root: Path) -> Path:
    """/app of an image, copied out once per session."""
    if image.ref not in _EXPORTS:
        dest = tmp_root / image.ref.replace("/", "_").replace(":", "_")
        _EXPORTS[image.ref] = engine.export_path(image.ref, "/app", dest)
    return _EXPORTS[image.ref]


@pytest.fixture
def app(engine: Engine, image: ImageUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return exported_app(engine, image, tmp_path_factory.getbasetemp())


def dynamic_entries(path: Path) -> dict[str, list[str]]:
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        found: dict[str, list[str]] = {"DT_NEEDED": [], "DT_RUNPATH": [], "DT_RPATH": []}
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        found["DT_NEEDED"].append(str(getattr(tag, "needed", "")))
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        found["DT_RUNPATH"].append(str(getattr(tag, "runpath", "")))
                    elif tag.entry.d_tag == "DT_RPATH":
                        found["DT_RPATH"].append(str(getattr(tag, "rpath", "")))
        return found


def elf_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    files.append(path)
    return files


def test_layout(app: Path, image: ImageUnderTest) -> None:
    folder = app / "bin" / image.triple / image.variant
    server = folder / "llama-server"
    assert server.is_file() and os.access(server, os.X_OK), f"{server} missing"
    modules = sorted(p.name for p in folder.glob("libggml-cpu-*.so"))
    assert modules, f"no CPU backend module in {folder}"
    for name in ("libllama.so", "libggml.so", "libggml-base.so"):
        assert list(folder.glob(name + "*")), f"{name} missing from {folder}"
    assert (app / "version.json").is_file()


def test_every_elf_has_runpath_origin_only(app: Path, image: ImageUnderTest) -> None:
    folder = app / "bin" / image.triple / image.variant
    wrong = {}
    for path in elf_files(folder):
        entries = dynamic_entries(path)
        if entries["DT_RUNPATH"] != ["$ORIGIN"] or entries["DT_RPATH"]:
            wrong[path.name] = entries["DT_RUNPATH"] + entries["DT_RPATH"]
    assert not wrong, f"RUNPATH is not exactly $ORIGIN: {wrong}"


ELF_MACHINES = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64", "s390x": "EM_S390"}


def test_every_elf_is_built_for_the_image_platform(app: Path, image: ImageUnderTest) -> None:
    """An arm64 image cross-compiled on amd64 carries aarch64 code only, and the reverse."""
    expected = ELF_MACHINES[image.triple.split("-", 1)[0]]
    folder = app / "bin" / image.triple / image.variant
    machines = {}
    for path in elf_files(folder):
        with path.open("rb") as handle:
            machines[path.name] = ELFFile(handle)["e_machine"]
    wrong = {name: machine for name, machine in machines.items() if machine != expected}
    assert machines and not wrong, f"not {expected}: {wrong}"


def test_versioned_sonames_are_kept(app: Path, image: ImageUnderTest) -> None:
    folder = app / "bin" / image.triple / image.variant
    shipped = {p.name for p in folder.iterdir()}
    missing = {}
    for path in elf_files(folder):
        for needed in dynamic_entries(path)["DT_NEEDED"]:
            if needed.startswith(("libllama", "libggml", "libmtmd")) and needed not in shipped:
                missing[path.name] = needed
    assert not missing, f"needed sonames not shipped: {missing}"


def test_labels_and_version_json_agree(
    engine: Engine, app: Path, image: ImageUnderTest, project: Project
) -> None:
    document: dict[str, Any] = json.loads((app / "version.json").read_text())
    labels = engine.image_labels(image.ref)
    for label, path in LABEL_TO_JSON.items():
        value: Any = document
        for key in path:
            value = value[key]
        assert labels.get(label) == label_text(value), f"{label} vs version.json {'.'.join(path)}"
    assert document["variant"] == image.variant
    assert document["server"] == image.server_path
    assert document["llama_cpp"]["tag"] == project.pin().tag
    assert document["llama_cpp"]["commit"] == project.pin().commit


def test_created_is_rfc3339(engine: Engine, app: Path, image: ImageUnderTest) -> None:
    created = engine.image_labels(image.ref)[f"{OCI}.created"]
    parsed = datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, created
    assert created.endswith("Z") and "T" in created, created
    document = json.loads((app / "version.json").read_text())
    assert int(parsed.timestamp()) == document["timestamp"]


def test_libraries_resolve_as_non_root(
    engine: Engine, image: ImageUnderTest, catalog: Catalog
) -> None:
    # Only the driver's libraries (a GPU host's) may be missing.
    allowed = catalog.variants[image.variant].driver_libraries
    code, output = unresolved_libraries(engine, image, image.folder, allowed)
    assert code == 0, f"unresolved libraries in {image.folder}:\n{output}"


def test_toolkit_labels(engine: Engine, image: ImageUnderTest, catalog: Catalog) -> None:
    labels = engine.image_labels(image.ref)
    variant = catalog.variants[image.variant]
    profile = labels[project_label("base-profile")]
    assert labels[project_label("toolkit.version")] == toolkit_version(variant, profile)
    assert labels[project_label("toolkit.compiler")] == toolchain(variant, profile)
    if variant.toolkit.name == "cuda":
        major = int(labels[project_label("toolkit.version")].split(".")[0])
        driver = int(labels[project_label("toolkit.min-driver")])
        assert driver == {12: 525, 13: 580}[major], labels


def test_relocated_folder_still_runs(
    engine: Engine, image: ImageUnderTest, project: Project
) -> None:
    script = f"""
        unset LD_LIBRARY_PATH
        cp -a {image.folder} /tmp/elsewhere
        /tmp/elsewhere/llama-server --version 2>&1
    """
    code, output = run_in(engine, image, script)
    assert code == 0, output
    # At the pin, --version prints "build 10454, commit 4df29be"; the "b10454" form
    # is the server's build_info (checked by the server tests).
    assert f"build {project.pin().build_number}," in output, output
    assert f"commit {project.pin().commit[:7]}" in output, output


def test_version_json_is_readable_by_anyone(engine: Engine, image: ImageUnderTest) -> None:
    code, output = run_in(engine, image, f"cat {VERSION_JSON_PATH}")
    assert code == 0, output
    assert json.loads(output)["variant"] == image.variant


def test_target_configuration(engine: Engine, image: ImageUnderTest) -> None:
    config = engine.image_config(image.ref)
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    if image.target == "runtime":
        assert not config.get("Entrypoint"), "a base layer must not set an ENTRYPOINT"
        assert "LLAMA_ARG_HOST" not in env, "a base layer must not listen on all interfaces"
        assert not config.get("Healthcheck")
    else:
        assert config.get("Entrypoint") == ["/usr/local/bin/llama-server"]
        user = config.get("User", "")
        assert user and not user.startswith(("0", "root")), f"server runs as {user!r}"
        assert env.get("LLAMA_ARG_HOST") == "0.0.0.0"
        probe = (config.get("Healthcheck") or {}).get("Test", [])
        assert probe == ["CMD", "/usr/local/lib/llama-base-images/healthcheck.sh"], probe


def test_gpu_image_carries_cpu_fallback(
    engine: Engine,
    gpu_image: ImageUnderTest,
    catalog: Catalog,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    app = exported_app(engine, gpu_image, tmp_path_factory.getbasetemp())
    fallback = app / "bin" / gpu_image.triple / "cpu"
    gpu_folder = app / "bin" / gpu_image.triple / gpu_image.variant
    assert (fallback / "llama-server").is_file(), f"{fallback} has no llama-server"
    assert list(fallback.glob("libggml-cpu-*.so")), f"{fallback} has no CPU module"
    gpu_only = {p.name for p in gpu_folder.iterdir()} - {p.name for p in fallback.iterdir()}
    variant = catalog.variants[gpu_image.variant]
    # Besides its backend modules, a GPU folder may carry only its toolkit's libraries.
    strays = [
        n for n in gpu_only if not n.startswith("libggml-") and not variant.is_toolkit_library(n)
    ]
    assert gpu_only and not strays, gpu_only
    for path in elf_files(fallback):
        assert dynamic_entries(path)["DT_RUNPATH"] == ["$ORIGIN"], path.name
    copies = [
        p.name
        for p in fallback.iterdir()
        if not p.is_symlink() and p.stat().st_ino != (gpu_folder / p.name).stat().st_ino
    ]
    assert not copies, f"stored twice instead of hard-linked: {copies}"
    fallback_image = ImageUnderTest(
        ref=gpu_image.ref,
        variant="cpu",
        target=gpu_image.target,
        version=gpu_image.version,
        triple=gpu_image.triple,
        labels=gpu_image.labels,
    )
    code, output = run_in(engine, fallback_image, f"{fallback_image.server_path} --version 2>&1")
    assert code == 0, output
