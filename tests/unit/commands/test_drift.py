"""diff-upstream: recorded facts vs an upstream tree, compared semantically."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.commands import drift
from llama_images.errors import ProjectError
from llama_images.model.catalog import load_catalog
from tests.unit.conftest import REPO_ROOT

RECIPE = """\
ARG UBUNTU_VERSION={ubuntu}
ARG CUDA_VERSION={cuda}
FROM docker.io/nvidia/cuda:${{CUDA_VERSION}}-devel-ubuntu${{UBUNTU_VERSION}} AS build
ARG CUDA_DOCKER_ARCH={arch}
RUN apt-get install -y gcc-14 && \\
    cmake -B build -DGGML_CUDA=ON {flags}
FROM docker.io/nvidia/cuda:${{CUDA_VERSION}}-runtime-ubuntu${{UBUNTU_VERSION}} AS base
RUN apt-get install -y {packages}
"""


def tree(root: Path, recipes: dict[str, dict[str, str]]) -> Path:
    (root / ".devops").mkdir(parents=True)
    (root / "CMakeLists.txt").write_text("project(llama)\n")
    for name, values in recipes.items():
        defaults = {
            "ubuntu": "24.04",
            "cuda": "12.8.1",
            "arch": "default",
            "flags": "-DGGML_NATIVE=OFF",
            "packages": "libgomp1 curl",
        }
        (root / ".devops" / f"{name}.Dockerfile").write_text(
            RECIPE.format(**{**defaults, **values})
        )
    return root


def test_no_drift_at_the_same_tree(tmp_path: Path) -> None:
    facts = drift.upstream_facts(tree(tmp_path / "t", {"cuda": {}}))
    assert drift.diff_facts(facts, facts) == []


def test_drift_is_reported_semantically(tmp_path: Path) -> None:
    old = drift.upstream_facts(tree(tmp_path / "old", {"cuda": {}, "musa": {}}))
    new = drift.upstream_facts(
        tree(
            tmp_path / "new",
            {
                "cuda": {
                    "cuda": "12.10.0",
                    "arch": "75;80",
                    "flags": "-DGGML_NATIVE=ON -DNEW=1",
                    "packages": "libgomp1",
                },
                "rocm": {},
            },
        )
    )
    changes = {(c.variant, c.kind, c.name): c for c in drift.diff_facts(old, new)}
    # 12.10.0 is newer than 12.8.1 even though it sorts lower as a string.
    base = changes[("cuda", "base changed", "build")]
    assert base.note == "newer"
    assert changes[("cuda", "global arg changed", "CUDA_VERSION")].note == "newer"
    assert changes[("cuda", "build arg changed", "CUDA_DOCKER_ARCH")].after == "75;80"
    assert changes[("cuda", "cmake flag changed", "GGML_NATIVE")].after == "ON"
    assert ("cuda", "cmake flag added", "NEW") in changes
    assert ("cuda", "runtime package removed", "curl") in changes
    assert ("rocm", "variant added upstream", "rocm") in changes
    assert ("musa", "variant dropped upstream", "musa") in changes


@pytest.mark.parametrize(
    ("before", "after", "note"),
    [
        ("ubuntu:24.04", "ubuntu:26.04", "newer"),
        ("12.8.1", "12.10.0", "newer"),
        ("rc4.3.0", "rc4.2.9", "older"),
        ("a:1.0", "b:1.0", ""),
        ("latest", "edge", ""),
        ("2025.3.3-0-devel-ubuntu24.04", "2026.1.1-devel-ubuntu24.04", "newer"),
    ],
)
def test_versions_compare_as_versions(before: str, after: str, note: str) -> None:
    assert drift.compare_versions(before, after) == note


def test_not_a_llama_tree(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"is not a llama\.cpp tree"):
        drift.upstream_facts(tmp_path)


def test_record_then_load(tmp_path: Path) -> None:
    facts = drift.upstream_facts(tree(tmp_path / "t", {"cuda": {}}))
    drift.record(tmp_path, facts, "b1", "f" * 40)
    loaded = drift.load_recorded(tmp_path)
    assert loaded["llama_cpp"]["tag"] == "b1"
    assert drift.diff_facts(loaded, facts) == []


def test_an_upstream_variant_unknown_to_the_catalog_is_drift(tmp_path: Path) -> None:
    catalog = load_catalog(REPO_ROOT / "base-images")
    facts = drift.upstream_facts(tree(tmp_path / "t", {"cuda": {}, "newaccel": {}}))
    assert drift.unknown_variants(catalog, facts) == ["newaccel"]
    report = drift.DriftReport(upstream=[], ours=[], unknown=["newaccel"])
    assert report.drifted
    lines = [line for line in drift.render(report).splitlines() if "newaccel" in line]
    assert lines == [
        "upstream variant newaccel (.devops/newaccel.Dockerfile) is unknown to the catalog: "
        "give it a [variants.newaccel] table in base-images/variants.toml"
    ]
