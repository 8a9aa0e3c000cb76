"""What CI needs from the catalog and the plan: the job matrix and the bake definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llama_images.building.builder import prepare_plan, select, stage_context
from llama_images.building.plan import BuildPlan
from llama_images.model.catalog import Catalog, Variant
from llama_images.model.metadata import CORE_TARGET
from llama_images.model.project import Project
from llama_images.model.tags import TARGETS
from llama_images.paths import write_text_atomically

# Hosted runners per platform. They have no GPU: a variant whose server needs a
# device is built and published there but smoke-tested only where that device exists.
# ubuntu-24.04-s390x is IBM's runner, offered to some public repositories only.
RUNNERS = {
    "linux/amd64": "ubuntu-24.04",
    "linux/arm64": "ubuntu-24.04-arm",
    "linux/s390x": "ubuntu-24.04-s390x",
}


def runs_on_hosted_runner(variant: Variant) -> bool:
    """Whether a runner with no GPU or driver can serve a model with this variant.

    The cpu variant can; a GPU variant only when its smoke settings name the device it
    shows with no hardware at all (Vulkan on Mesa's lavapipe) and require none.
    """
    if not variant.is_gpu:
        return True
    return bool(variant.smoke.device_log) and not variant.smoke.requires


def cross_compiled(variant: Variant, platform: str) -> bool:
    """Whether the job builds this platform on an amd64 runner: the recipe cross-compiles
    and QEMU runs the runtime stages and the smoke test. The others need a native runner."""
    return platform != "linux/amd64" and bool(variant.recipe.cross_packages)


def job_matrix(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """One job per variant and platform, in the shape of a GitHub Actions matrix."""
    include = []
    for variant in catalog.variants.values():
        for platform in variant.platforms:
            include.append(
                {
                    "variant": variant.name,
                    "platform": platform,
                    "arch": platform.split("/")[1],
                    "runner": RUNNERS[
                        "linux/amd64" if cross_compiled(variant, platform) else platform
                    ],
                    "cross": cross_compiled(variant, platform),
                    "smoke": runs_on_hosted_runner(variant),
                    # Every target the variant offers is built and published.
                    "targets": ",".join([*TARGETS, *variant.flavours]),
                    # A vendor toolkit's base image takes several of a hosted runner's
                    # ~14 GB free: the job frees disk space first.
                    "free_disk": bool(variant.toolkit.name),
                }
            )
    return {"include": include}


def cache_scopes(
    registry_cache: str, variant: str, arch: str, commit: str, parent: str, branch: str
) -> list[str]:
    """The cache-from chain of one variant and platform: this commit, its parent, the branch."""
    base = f"{registry_cache}:{variant}-{arch}"
    return [f"type=registry,ref={base}-{ref}" for ref in (commit, parent, branch) if ref]


def bake_definition(
    plan: BuildPlan, registry_cache: str = "", parent: str = "", branch: str = ""
) -> dict[str, Any]:
    """A docker buildx bake file with the same targets, args, tags and labels as the plan."""
    targets: dict[str, Any] = {}
    for build in plan.builds:
        if build.target == CORE_TARGET:
            # Bake builds its targets side by side: a composed target builds
            # the same core in its own `core-own` stage instead of waiting.
            continue
        arch = build.platform.split("/")[1]
        name = f"{build.variant}-{build.target}-{arch}"
        target: dict[str, Any] = {
            "context": str(build.request.context),
            "dockerfile": str(build.request.dockerfile),
            "target": build.target,
            "platforms": [build.platform],
            "args": {k: v for k, v in build.request.build_args.items() if k != "CORE_IMAGE"},
            "labels": dict(build.request.labels),
            "tags": list(build.tags),
        }
        if registry_cache:
            target["cache-from"] = cache_scopes(
                registry_cache, build.variant, arch, plan.commit.sha[:12], parent[:12], branch
            )
            target["cache-to"] = [
                f"type=registry,ref={registry_cache}:{build.variant}-{arch}-"
                f"{plan.commit.sha[:12]},mode=max"
            ]
        targets[name] = target
    groups = {"default": {"targets": sorted(targets)}}
    for variant in sorted({b.variant for b in plan.builds}):
        groups[variant] = {"targets": sorted(t for t in targets if t.startswith(f"{variant}-"))}
    return {"group": groups, "target": targets}


def write_bake_file(
    project: Project, destination: Path, cache: str, parent: str, branch: str
) -> str:
    """`bake-file`: stages the context build-local would and writes the bake definition."""
    plan = prepare_plan(project, select(project), None, dry_run=True)
    stage_context(project, plan, local_source=bool(project.settings.source_path))
    definition = bake_definition(plan, cache, parent, branch)
    write_text_atomically(destination, json.dumps(definition, indent=2) + "\n")
    return f"wrote {destination.name}: {len(definition['target'])} targets"
