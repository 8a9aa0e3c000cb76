"""Toolchain reuse across runners: prebuilt builder images and exported ccache images."""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from llama_images.adapters.engine import BuildRequest
from llama_images.building.builder import (
    Selection,
    planned_ui_images,
    prepare_plan,
    select,
    stage_context,
)
from llama_images.building.plan import (
    BUILDER_STAGE,
    WEB_DIST_STAGE,
    BuildPlan,
    builder_image,
    builder_key,
    ccache_image,
    image_repository,
)
from llama_images.building.steps import connect, steps_for
from llama_images.errors import ProjectError
from llama_images.model.project import Project
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
    selection = select(fromsource)
    engine = connect(fromsource, dry=dry_run)
    plan = prepare_plan(fromsource, selection, engine, dry_run=dry_run)
    requests = builder_requests(fromsource, plan)
    print(
        table(
            ["builder image", "dockerfile"], [[r, q.dockerfile.name] for r, q in requests.items()]
        )
    )
    steps = steps_for(fromsource, engine, dry=dry_run)
    steps.act(
        f"stage the build context in {plan.context}",
        lambda: stage_context(fromsource, plan, local_source=bool(project.settings.source_path)),
    )
    built = {
        ref: steps.build(f"builder-{ref.rsplit(':', 1)[-1]}", q) for ref, q in requests.items()
    }
    for ref, image_id in built.items():
        steps.tag(image_id, ref)
        if push:
            steps.push(ref)
    return list(built)


def export_ccache(project: Project, *, dry_run: bool = False) -> list[str]:
    """Exports what a fresh runner seeds its builds from, and pushes it: the engine's ccache
    as one image per planned toolchain, and the built web UI per web stage base.

    Run after a build on the main branch; pull requests only read the images.
    """
    registry = project.settings.ccache_registry
    if not registry:
        raise ProjectError("no ccache registry: set LLAMA_IMAGES_CCACHE_REGISTRY or --registry")
    selection = select(project)
    engine = connect(project, dry=dry_run)
    plan = prepare_plan(project, selection, engine, dry_run=dry_run)
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
    exports.update(ui_exports(plan, selection, repository))
    steps = steps_for(project, engine, dry=dry_run)
    for ref, request in exports.items():
        image_id = steps.build(f"export-{ref.rsplit('/', 1)[-1].replace(':', '-')}", request)
        steps.tag(image_id, ref)
        digest = steps.push(ref)
        print(f"==> exported {ref} ({digest})", file=sys.stderr)
    return list(exports)


def ui_exports(plan: BuildPlan, selection: Selection, repository: str) -> dict[str, BuildRequest]:
    """The web UI of each web stage base the plan builds with, by the image it is pushed as."""
    web_bases = {b.request.build_args.get("WEB_BASE", "") for b in plan.builds} - {""}
    wanted = planned_ui_images(selection.catalog, plan.source, selection.pin, repository, web_bases)
    exports: dict[str, BuildRequest] = {}
    for build in plan.builds:
        ref = wanted.get(build.request.build_args.get("WEB_BASE", ""))
        if ref and ref not in exports:
            args = {k: v for k, v in build.request.build_args.items() if k != "UI_IMAGE"}
            exports[ref] = replace(build.request, target=WEB_DIST_STAGE, build_args=args, labels={})
    return exports
