"""Invoke tasks; each mirrors a Makefile target and calls one function of the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from llama_images.building import builder, ci, recipes
from llama_images.building import builder_images as toolchains
from llama_images.building.steps import probe_engine
from llama_images.commands import drift, inventory, publish, release
from llama_images.commands.cli import add_parser_hints, shows_errors
from llama_images.model.project import Project
from llama_images.paths import output_file

ROOT = Path(__file__).resolve().parent
add_parser_hints()


def open_project(**flags: str | None) -> Project:
    return Project.open(ROOT, flags)


@task(name="show-git-info")
@shows_errors
def show_git_info(c: Context) -> None:
    """Show the commit, version, release tag and upstream pin HEAD would build."""
    print(inventory.git_info_table(open_project()))


@task(
    name="build-local",
    help={
        "variants": "comma-separated variants (default: LLAMA_IMAGES_VARIANTS or cpu)",
        "platforms": "comma-separated platforms (default: the host's)",
        "dry-run": "print the exact plan and engine invocations, build nothing",
        "no-cache": "build without the engine's layer cache (ccache stays warm)",
        "base-mode": "auto, upstream or offline",
        "targets": "comma-separated targets: runtime, server, media (default: runtime,server)",
        "builder-target": "fromsource (default) or prebuilt (images from build-builders)",
        "ccache-registry": "a registry whose exported ccache images seed the builds",
    },
)
@shows_errors
def build_local(
    c: Context,
    variants: str | None = None,
    platforms: str | None = None,
    dry_run: bool = False,
    no_cache: bool = False,
    base_mode: str | None = None,
    targets: str | None = None,
    builder_target: str | None = None,
    ccache_registry: str | None = None,
) -> None:
    """Build the images of the chosen variants on this machine; tag them when all succeed."""
    project = open_project(
        variants=variants,
        platforms=platforms,
        base_mode=base_mode,
        targets=targets,
        builder_target=builder_target,
        ccache_registry=ccache_registry,
    )
    builder.build_local(project, dry_run=dry_run, no_cache=no_cache)


@task(
    name="build-builders",
    help={
        "variants": "comma-separated variants (default: LLAMA_IMAGES_VARIANTS)",
        "push": "push the builder images to LLAMA_IMAGES_REGISTRY",
        "dry-run": "list the builder images, build nothing",
    },
)
@shows_errors
def build_builders(
    c: Context, variants: str | None = None, push: bool = False, dry_run: bool = False
) -> None:
    """Build each variant's toolchain stage once, for --builder-target prebuilt."""
    toolchains.build_builders(open_project(variants=variants), push=push, dry_run=dry_run)


@task(
    name="export-ccache",
    help={
        "registry": "the registry to push to (default: LLAMA_IMAGES_CCACHE_REGISTRY)",
        "variants": "comma-separated variants whose toolchains to export",
        "platforms": "comma-separated platforms (default: the host's)",
        "dry-run": "list the ccache images, build and push nothing",
    },
)
@shows_errors
def export_ccache(
    c: Context,
    registry: str | None = None,
    variants: str | None = None,
    platforms: str | None = None,
    dry_run: bool = False,
) -> None:
    """Export each toolchain's ccache as an image and push it (main branch builds only)."""
    project = open_project(ccache_registry=registry, variants=variants, platforms=platforms)
    toolchains.export_ccache(project, dry_run=dry_run)


@task(name="check-base-images-version")
@shows_errors
def check_base_images_version(c: Context) -> None:
    """Show the version HEAD would produce, the newest release and which local images are stale."""
    project = open_project()
    print(inventory.version_status_table(project, probe_engine(project)))


@task(
    name="clean-local-images",
    help={"dry-run": "list what would be removed", "keep-current": "keep HEAD's version"},
)
@shows_errors
def clean_local_images(c: Context, dry_run: bool = False, keep_current: bool = False) -> None:
    """Remove the images this project built from the local engine."""
    print(inventory.clean_local_images_report(open_project(), dry_run, keep_current))


@task(
    name="test-local-images",
    help={"image": "an image reference to test (repeatable)", "variant": "test one variant"},
    iterable=["image"],
)
@shows_errors
def test_local_images(
    c: Context, image: list[str] | None = None, variant: str | None = None
) -> None:
    """Prove that every image built for HEAD's version serves a model (nox -s test_images)."""
    posargs = [arg for ref in image or [] for arg in ("--image", ref)]
    if variant:
        posargs += ["--variant", variant]
    argv = [sys.executable, "-m", "nox", "-s", "test_images"]
    if posargs:
        argv += ["--", *posargs]
    done = subprocess.run(argv, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise Exit(code=done.returncode)


@task(
    name="diff-upstream",
    help={
        "upstream": "a llama.cpp tree to compare with (default: the pinned source)",
        "update": "record the upstream facts of that tree (after a reviewed pin bump)",
    },
)
@shows_errors
def diff_upstream(c: Context, upstream: str | None = None, update: bool = False) -> None:
    """Compare upstream's .devops/ recipes with the recorded facts and our Dockerfiles."""
    report, drifted = drift.diff_upstream_report(open_project(), upstream, update)
    print(report)
    if drifted:
        raise Exit(code=1)


@task(
    name="render-recipes",
    help={"check": "change nothing; fail, naming them, if recipes are out of date"},
)
@shows_errors
def render_recipes(c: Context, check: bool = False) -> None:
    """Render every variant's Dockerfile from base-images/templates/ and variants.toml."""
    print(recipes.render_recipes(open_project(), check=check))


@task(name="release-base-images", help={"dry-run": "check everything, show what would happen"})
@shows_errors
def release_base_images(c: Context, dry_run: bool = False) -> None:
    """Tag HEAD as a release (base-images/v<version>) and push the tag, after every check."""
    plan = release.release(open_project(), dry_run=dry_run)
    prefix = "would run" if dry_run else "done"
    print("\n".join(f"{prefix}: {step}" for step in plan.steps()))


@task(
    name="publish-images",
    help={
        "variants": "comma-separated variants (default: LLAMA_IMAGES_VARIANTS)",
        "registry": "registry host to publish to (default: LLAMA_IMAGES_REGISTRY)",
        "platforms": "comma-separated platforms (default: the host's)",
        "targets": "comma-separated targets: runtime, server, media (default: runtime,server)",
        "mode": "all (default); push: only push this host's platforms; "
        "merge: merge what was pushed, smoke-test, move latest",
        "dry-run": "show what would be pushed",
    },
)
@shows_errors
def publish_images(
    c: Context,
    variants: str | None = None,
    registry: str | None = None,
    platforms: str | None = None,
    targets: str | None = None,
    mode: str = "all",
    dry_run: bool = False,
) -> None:
    """Push HEAD's images per platform, merge them into manifest lists, smoke-test, move latest."""
    project = open_project(
        variants=variants, registry=registry, platforms=platforms, targets=targets
    )
    results = publish.publish(project, dry_run=dry_run, mode=publish.publish_mode(mode))
    for result in results:
        print(f"{result.status}: {result.tag} ({result.list_digest}) -> {result.latest}")


@task(name="ci-matrix")
@shows_errors
def ci_matrix(c: Context) -> None:
    """Print the CI job matrix (variant x platform) generated from the catalog, as JSON."""
    print(json.dumps(ci.job_matrix(open_project().catalog())))


@task(
    name="bake-file",
    help={
        "variants": "comma-separated variants (default: LLAMA_IMAGES_VARIANTS)",
        "platforms": "comma-separated platforms (default: the host's)",
        "output": "where to write it (default: docker-bake.json)",
        "cache": "registry repository for the BuildKit cache chain (optional)",
        "parent": "parent commit, for the cache chain",
        "branch": "release branch, for the cache chain",
    },
)
@shows_errors
def bake_file(
    c: Context,
    variants: str | None = None,
    platforms: str | None = None,
    output: str = "docker-bake.json",
    cache: str = "",
    parent: str = "",
    branch: str = "main",
) -> None:
    """Write a buildx bake definition with the same targets as build-local's plan."""
    project = open_project(variants=variants, platforms=platforms, base_mode="upstream")
    print(ci.write_bake_file(project, output_file(output, "--output"), cache, parent, branch))


@task(
    name="bench",
    help={"bump-source": "a newer llama.cpp tree: also measure a pin-bump rebuild"},
)
@shows_errors
def run_bench(c: Context, bump_source: str = "") -> None:
    """Measure build cost and image figures against references from the same run."""
    # Imported here: bench loads packages of the test extra (gguf, numpy, bcrypt,
    # cryptography), which `pip install .` leaves out; every other task loads without them.
    from llama_images.commands import bench

    bench.run_and_report(open_project(), bump_source)
