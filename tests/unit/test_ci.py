"""The CI matrix and the bake definition come from the catalog and the build plan."""

from __future__ import annotations

from pathlib import Path

from llama_images.bases import ResolvedBases
from llama_images.catalog import load_catalog
from llama_images.ci import bake_definition, job_matrix
from llama_images.plan import image_repository, make_plan
from llama_images.upstream import SourceTree, load_pin
from tests.unit.conftest import REPO_ROOT
from version import BuildVersion, CommitFacts

CATALOG = load_catalog(REPO_ROOT / "base-images")


def test_matrix_covers_every_variant_and_platform() -> None:
    jobs = job_matrix(CATALOG)["include"]
    expected = {(v.name, p) for v in CATALOG.variants.values() for p in v.platforms}
    assert {(j["variant"], j["platform"]) for j in jobs} == expected
    assert all(j["smoke"] is (not CATALOG.variants[j["variant"]].smoke.requires) for j in jobs)


def test_bake_definition_matches_the_plan() -> None:
    variants = CATALOG.select(["cpu", "vulkan"])
    plan = make_plan(
        version=BuildVersion.parse("2611220312-0a1b2c3"),
        commit=CommitFacts(sha="0a1b2c3" + "1" * 33, timestamp=0, branch="main", dirty=False),
        pin=load_pin(REPO_ROOT / ".devops"),
        source=SourceTree(Path("/s"), "o", "p"),
        variants=variants,
        bases={v.name: ResolvedBases(v.bases.build, v.bases.runtime, "upstream") for v in variants},
        platforms=["linux/amd64", "linux/arm64"],
        repository=image_repository("", "llama.cpp"),
        context=Path("/ctx"),
        source_url="x",
    )
    bake = bake_definition(plan, "ghcr.io/o/cache", parent="f" * 40, branch="main")
    assert len(bake["target"]) == len(plan.builds) == 8
    for build in plan.builds:
        arch = build.platform.split("/")[1]
        target = bake["target"][f"{build.variant}-{build.target}-{arch}"]
        assert target["args"] == dict(build.request.build_args)
        assert target["labels"] == dict(build.request.labels)
        assert target["tags"] == list(build.tags)
        assert target["target"] == build.target
        assert target["platforms"] == [build.platform]
        assert target["cache-from"] == [
            f"type=registry,ref=ghcr.io/o/cache:{build.variant}-{arch}-{suffix}"
            for suffix in ("0a1b2c311111", "ffffffffffff", "main")
        ]
    assert bake["group"]["cpu"]["targets"] == sorted(
        t for t in bake["target"] if t.startswith("cpu-")
    )


def test_workflow_takes_its_matrix_from_the_catalog() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "base-images.yml").read_text()
    assert "invoke ci-matrix" in workflow
    assert "fromJSON(needs.matrix.outputs.matrix)" in workflow
    for name in CATALOG.variants:
        assert f"variant: {name}" not in workflow  # no copy-pasted jobs
    assert 'tags: ["base-images/v*"]' in workflow
