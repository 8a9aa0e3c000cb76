"""diff-upstream compares our runtime packages with upstream's runtime stage; only the
differences the catalog explains are allowed."""

from __future__ import annotations

from pathlib import Path

from llama_images.building.dockerfile import Dockerfile, parse_dockerfile
from llama_images.commands import drift
from llama_images.model.project import Project
from tests.unit.conftest import REPO_ROOT

ROOT = REPO_ROOT

UPSTREAM = """\
FROM ubuntu:26.04 AS build
RUN cmake -B build -DGGML_VULKAN=ON
FROM ubuntu:26.04 AS base
RUN apt-get update && apt-get install -y libgomp1 curl ffmpeg libvulkan1 libglvnd0 libegl1
"""

OURS = """\
FROM debian AS runtime
RUN /usr/local/lib/llama-base-images/apt-install.sh libgomp1 libssl3t64 libvulkan1 {extra}
FROM runtime AS server
RUN /usr/local/lib/llama-base-images/apt-install.sh curl
FROM server AS media
RUN /usr/local/lib/llama-base-images/apt-install.sh ffmpeg
"""


def recipe(tmp_path: Path, name: str, text: str) -> Dockerfile:
    path = tmp_path / f"{name}.Dockerfile"
    path.write_text(text)
    return parse_dockerfile(path)


def test_a_missing_runtime_package_is_drift_naming_it(tmp_path: Path) -> None:
    upstream = recipe(tmp_path, "upstream", UPSTREAM)
    ours = recipe(tmp_path, "ours", OURS.format(extra="libegl1"))
    changes = drift.runtime_package_changes("vulkan", upstream, ours, {})
    assert [(c.kind, c.name) for c in changes] == [
        ("ours: runtime package missing", "libglvnd0"),
        ("ours: runtime package not upstream's", "libssl3t64"),
    ]


def test_a_difference_with_a_reason_is_not_drift(tmp_path: Path) -> None:
    upstream = recipe(tmp_path, "upstream", UPSTREAM)
    ours = recipe(tmp_path, "ours", OURS.format(extra="libglvnd0 libegl1"))
    reasons = {"libssl3t64": "HTTPS downloads"}
    assert drift.runtime_package_changes("vulkan", upstream, ours, reasons) == []


def test_every_catalog_reason_is_said_in_words() -> None:
    catalog = Project.open(ROOT).catalog()
    for variant in catalog.variants.values():
        for package, reason in variant.runtime_package_reasons.items():
            assert len(reason.split()) >= 5, f"{variant.name}: {package} needs a real reason"
