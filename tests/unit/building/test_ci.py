"""The CI matrix and the bake definition come from the catalog and the build plan."""

from __future__ import annotations

from typing import Any

import pytest

from llama_images.building.bases import ResolvedBases
from llama_images.building.ci import bake_definition, job_matrix
from llama_images.model.catalog import load_catalog
from tests.unit.conftest import COMMIT, REPO_ROOT, plan_of

CATALOG = load_catalog(REPO_ROOT / "base-images")
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "base-images.yml"


def test_matrix_covers_every_variant_and_platform() -> None:
    jobs = job_matrix(CATALOG)["include"]
    expected = {(v.name, p) for v in CATALOG.variants.values() for p in v.platforms}
    assert {(j["variant"], j["platform"]) for j in jobs} == expected
    assert {j["runner"] for j in jobs} == {"ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-24.04-s390x"}


def test_arm64_of_a_cross_compiling_recipe_builds_on_an_amd64_runner() -> None:
    jobs = {(j["variant"], j["platform"]): j for j in job_matrix(CATALOG)["include"]}
    cpu = jobs["cpu", "linux/arm64"]
    assert (cpu["runner"], cpu["cross"]) == ("ubuntu-24.04", True)
    cuda = jobs["cuda", "linux/arm64"]
    assert (cuda["runner"], cuda["cross"]) == ("ubuntu-24.04-arm", False)
    assert not jobs["cpu", "linux/amd64"]["cross"]


def test_only_variants_that_run_without_a_gpu_are_smoke_tested_on_hosted_runners() -> None:
    jobs = job_matrix(CATALOG)["include"]
    # vulkan runs on Mesa's lavapipe, openvino on OpenVINO's CPU device; every other GPU
    # variant needs its device and driver, s390x a big-endian model, and zendnn names no
    # device to look for.
    assert {j["variant"] for j in jobs if j["smoke"]} == {"cpu", "vulkan", "openvino"}
    assert {j["variant"] for j in jobs if not j["smoke"]} == {
        "cuda",
        "cuda13",
        "rocm",
        "musa",
        "intel",
        "cann",
        "zendnn",
        "s390x",
    }


def test_vendor_toolkit_bases_get_disk_space_freed_first() -> None:
    jobs = job_matrix(CATALOG)["include"]
    freeing = {j["variant"] for j in jobs if j["free_disk"]}
    assert freeing == {v.name for v in CATALOG.variants.values() if v.toolkit.name}
    assert not freeing & {"cpu", "vulkan"}


def test_bake_definition_matches_the_plan() -> None:
    variants = CATALOG.select(["cpu", "vulkan"])
    upstream = {v.name: ResolvedBases(v.bases.build, v.bases.runtime, "upstream") for v in variants}
    plan = plan_of(["cpu", "vulkan"], ("linux/amd64", "linux/arm64"), bases=upstream)
    bake = bake_definition(plan, "ghcr.io/o/cache", parent="f" * 40, branch="main")
    # vulkan composes on the 24.04 core: bake builds that core in vulkan's own stage.
    images = [b for b in plan.builds if b.target != "core"]
    assert len(bake["target"]) == len(images) == 8
    assert {b.platform for b in plan.builds if b.target == "core"} == {
        "linux/amd64",
        "linux/arm64",
    }
    for build in images:
        arch = build.platform.split("/")[1]
        target = bake["target"][f"{build.variant}-{build.target}-{arch}"]
        args = {k: v for k, v in build.request.build_args.items() if k != "CORE_IMAGE"}
        assert target["args"] == args
        assert target["labels"] == dict(build.request.labels)
        assert target["tags"] == list(build.tags)
        assert target["target"] == build.target
        assert target["platforms"] == [build.platform]
        assert target["cache-from"] == [
            f"type=registry,ref=ghcr.io/o/cache:{build.variant}-{arch}-{suffix}"
            for suffix in (COMMIT.sha[:12], "ffffffffffff", "main")
        ]
    assert bake["group"]["cpu"]["targets"] == sorted(
        t for t in bake["target"] if t.startswith("cpu-")
    )


def test_workflow_takes_its_matrix_from_the_catalog() -> None:
    workflow = WORKFLOW.read_text()
    assert "invoke ci-matrix" in workflow
    assert "fromJSON(needs.matrix.outputs.matrix)" in workflow
    for name in CATALOG.variants:
        assert f"variant: {name}" not in workflow  # no copy-pasted jobs
    assert 'tags: ["base-images/v*"]' in workflow


def workflow_jobs() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with the test extra (gguf needs it)
    jobs: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return jobs


def test_every_job_has_a_timeout_and_a_ref_runs_once_at_a_time() -> None:
    assert all("timeout-minutes" in job for job in workflow_jobs().values())
    assert "group: ${{ github.workflow }}-${{ github.ref }}" in WORKFLOW.read_text()


def test_every_step_that_can_push_is_out_of_reach_of_pull_requests() -> None:
    """Logins and pushes run only where a pull request cannot be: publishing runs (decided
    per event in the matrix job, proven by the workflow tests) or pushes to main."""
    guards = ("github.event_name != 'pull_request'", "publish == 'true'", "refs/heads/main")
    for name, job in workflow_jobs().items():
        for step in job["steps"]:
            action = f"{step.get('uses', '')} {step.get('run', '')}"
            if any(w in action for w in ("login-action", "publish-images", "export-ccache")):
                condition = f"{job.get('if', '')} {step.get('if', '')}"
                assert any(g in condition for g in guards), f"{name}: {action.strip()}"


def test_disk_is_freed_only_on_hosted_runners_before_vendor_bases() -> None:
    steps = [s for s in workflow_jobs()["build"]["steps"] if "free-disk-space" in s.get("uses", "")]
    assert len(steps) == 1
    assert "matrix.free_disk" in steps[0]["if"] and "!env.ACT" in steps[0]["if"]
