"""Toolchain reuse across runners: prebuilt builder images and exported ccache images."""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from llama_images.builder import prepare_plan, stage_context
from llama_images.engine import BuildRequest
from llama_images.errors import ProjectError
from llama_images.plan import (
    BUILDER_STAGE,
    BuildPlan,
    builder_image,
    builder_key,
    ccache_image,
    image_repository,
)
from llama_images.project import Project
from llama_images.report import table

CCACHE_DOCKERFILE = "ccache.Dockerfile"


def builder_requests(project: Project, plan: BuildPlan) -> dict[str, BuildRequest]:
    """One `builder-fromsource` build per variant and platform, by the tag it gets."""
    repository = image_repository(project.settings.registry, project.settings.repo)
    scripts = project.base_images / "scripts"
    catalog = project.catalog()
    requests: dict[str, BuildRequest] = {}
    for build in plan.builds:
        variant = catalog.variants[build.variant]
        args = {k: v for k, v in build.request.build_args.items() if k != "BUILDER_IMAGE"}
        ref = builder_image(
            repository, variant.name, build.platform, builder_key(variant, args, scripts)
        )
        requests.setdefault(ref, replace(build.request, target=BUILDER_STAGE, build_args=args))
    return requests


def build_builders(project: Project, *, push: bool = False, dry_run: bool = False) -> list[str]:
    """Builds (and with `push`, publishes) the toolchain stage of every planned variant."""
    if push and not project.settings.registry:
        raise ProjectError("no registry to push builders to: set LLAMA_IMAGES_REGISTRY")
    fromsource = project.with_settings(builder_target="fromsource")
    plan, engine = prepare_plan(fromsource, dry_run=dry_run)
    requests = builder_requests(fromsource, plan)
    print(
        table(
            ["builder image", "dockerfile"], [[r, q.dockerfile.name] for r, q in requests.items()]
        )
    )
    if dry_run:
        return list(requests)
    assert engine is not None
    stage_context(fromsource, plan, local_source=bool(project.settings.source_path))
    logs = project.settings.cache_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    built = {}
    for ref, request in requests.items():
        with (logs / f"builder-{ref.rsplit(':', 1)[-1]}.log").open("w") as log:
            built[ref] = engine.build(request, log)
    for ref, image_id in built.items():
        engine.tag(image_id, ref)
        if push:
            engine.push(ref)
    return list(built)


def export_ccache(project: Project, *, dry_run: bool = False) -> list[str]:
    """Exports the engine's ccache as one image per planned toolchain and pushes it.

    Run after a build on the main branch; pull requests only read the images.
    """
    registry = project.settings.ccache_registry
    if not registry:
        raise ProjectError("no ccache registry: set LLAMA_IMAGES_CCACHE_REGISTRY or --registry")
    plan, engine = prepare_plan(project, dry_run=dry_run)
    repository = image_repository(registry, project.settings.repo)
    exports: dict[str, BuildRequest] = {}
    for key, build in plan.toolchains().items():
        exports[ccache_image(repository, key)] = BuildRequest(
            dockerfile=project.base_images / CCACHE_DOCKERFILE,
            context=plan.context,
            target="ccache",
            platform=build.platform,
            build_args={
                "BUILD_BASE": build.request.build_args["BUILD_BASE"],
                "EXPORT_ID": f"{plan.version}-{time.time_ns()}",
            },
            labels={"org.llama-images.ccache": key},
        )
    print(table(["ccache image", "toolchain"], [[r, r.rsplit(":", 1)[-1]] for r in exports]))
    if dry_run:
        return list(exports)
    assert engine is not None
    logs = project.settings.cache_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for ref, request in exports.items():
        with (logs / f"ccache-export-{ref.rsplit(':', 1)[-1]}.log").open("w") as log:
            image_id = engine.build(request, log)
        engine.tag(image_id, ref)
        digest = engine.push(ref)
        print(f"==> exported {ref} ({digest})", file=sys.stderr)
    return list(exports)
