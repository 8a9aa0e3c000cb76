"""arm64 on an amd64 host: cross-compiled where the recipe can, the runtime under emulation."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.adapters.emulation import emulation_missing
from llama_images.building.bases import ResolvedBases
from llama_images.building.builder import check_platforms
from llama_images.errors import ProjectError
from llama_images.model.catalog import load_catalog
from tests.unit.conftest import REPO_ROOT, plan_of

ARM64 = "linux/arm64"
OFFLINE_ARM64 = ResolvedBases(
    "llama-images/debian:trixie",
    "llama-images/debian:trixie",
    "offline",
    {ARM64: "llama-images/debian:trixie-arm64"},
)


def test_a_cross_build_names_the_cross_stage_and_the_foreign_runtime_base() -> None:
    plan = plan_of(["cpu"], (ARM64,), bases={"cpu": OFFLINE_ARM64})
    runtime = plan.builds[0]
    args = runtime.request.build_args
    assert args["BUILDER_IMAGE"] == "builder-cross"
    assert (args["CROSS_ARCH"], args["CROSS_TRIPLE"]) == ("arm64", "aarch64-linux-gnu")
    assert args["BUILD_BASE"] == "llama-images/debian:trixie"
    assert args["RUNTIME_BASE"] == "llama-images/debian:trixie-arm64"
    assert runtime.record.runtime_base == "llama-images/debian:trixie-arm64"
    # A plain tag would name the host's image; a foreign platform's carries its own.
    assert runtime.tags[1] == "llama.cpp:latest-cpu-arm64"


def test_a_native_build_has_no_cross_arguments() -> None:
    args = plan_of(["cpu"], ("linux/amd64",)).builds[0].request.build_args
    assert not {"BUILDER_IMAGE", "CROSS_ARCH", "CROSS_TRIPLE"} & set(args)


def test_a_recipe_without_cross_packages_builds_under_emulation() -> None:
    plan = plan_of(["s390x"], ("linux/s390x",))
    assert "CROSS_TRIPLE" not in plan.builds[0].request.build_args


def test_the_cross_stage_installs_the_targets_libraries() -> None:
    recipe = (REPO_ROOT / "base-images" / "cpu.Dockerfile").read_text()
    assert "FROM --platform=$BUILDPLATFORM ${BUILD_BASE} AS builder-fromsource" in recipe
    assert '"$CROSS_ARCH" "$CROSS_TRIPLE" gcc-14 g++-14 -- libssl-dev' in recipe
    # s390x's recipe compiles on its target (emulated, or on a native runner).
    s390x = (REPO_ROOT / "base-images" / "s390x.Dockerfile").read_text()
    assert "$BUILDPLATFORM ${BUILD_BASE}" not in s390x


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "no binfmt handler runs linux/arm64 programs here"),
        ("disabled\ninterpreter /usr/bin/qemu-aarch64\nflags: F\n", "is disabled"),
        ("enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n", "lacks the F flag"),
        ("enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: PF\n", ""),
    ],
)
def test_emulation_needs_an_enabled_fix_binary_handler(
    tmp_path: Path, text: str | None, expected: str
) -> None:
    if text is not None:
        (tmp_path / "qemu-aarch64").write_text(text)
    why = emulation_missing(ARM64, tmp_path)
    assert (expected in why) if expected else why == ""


def test_prebuilt_builders_are_refused_for_a_cross_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llama_images.building.builder.emulation_missing", lambda platform: "")
    catalog = load_catalog(REPO_ROOT / "base-images")
    with pytest.raises(ProjectError, match="prebuilt builders are made for native builds only"):
        check_platforms(catalog.select(["cpu"]), [ARM64], "prebuilt")
