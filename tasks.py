"""Invoke tasks; each mirrors a Makefile target and calls one function of the package."""

from __future__ import annotations

import json
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from llama_images.building import builder, ci, recipes
from llama_images.building import builder_images as toolchains
from llama_images.building.steps import probe_engine
from llama_images.commands import drift, flags, image_tests, inventory, publish, release
from llama_images.commands.cli import add_parser_hints, exit_with, shows_errors
from llama_images.model.project import Project
from llama_images.paths import output_file

ROOT = Path(__file__).resolve().parent
add_parser_hints()


def open_project(**overrides: str | None) -> Project:
    return Project.open(ROOT, overrides)


@task(name="show-git-info")
@shows_errors
def show_git_info(c: Context) -> None:
    """Show the commit, version, release tag and upstream pin HEAD would build."""
    print(inventory.git_info_table(open_project()))


@task(name="build-local", help=flags.BUILD_LOCAL)
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


@task(name="build-builders", help=flags.BUILD_BUILDERS)
@shows_errors
def build_builders(
    c: Context, variants: str | None = None, push: bool = False, dry_run: bool = False
) -> None:
    """Build each variant's toolchain stage once, for --builder-target prebuilt."""
    toolchains.build_builders(open_project(variants=variants), push=push, dry_run=dry_run)


@task(name="export-ccache", help=flags.EXPORT_CCACHE)
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


@task(name="clean-local-images", help=flags.CLEAN_LOCAL_IMAGES)
@shows_errors
def clean_local_images(c: Context, dry_run: bool = False, keep_current: bool = False) -> None:
    """Remove the images this project built from the local engine."""
    print(inventory.clean_local_images_report(open_project(), dry_run, keep_current))


@task(name="test-local-images", help=flags.TEST_LOCAL_IMAGES, iterable=["image"])
@shows_errors
def test_local_images(
    c: Context, image: list[str] | None = None, variant: str | None = None
) -> None:
    """Prove that every image built for HEAD's version serves a model (nox -s test_images)."""
    exit_with(image_tests.run_image_tests(ROOT, image or [], variant))


@task(name="diff-upstream", help=flags.DIFF_UPSTREAM)
@shows_errors
def diff_upstream(c: Context, upstream: str | None = None, update: bool = False) -> None:
    """Compare upstream's .devops/ recipes with the recorded facts and our Dockerfiles."""
    report, drifted = drift.diff_upstream_report(open_project(), upstream, update)
    print(report)
    exit_with(1 if drifted else 0)


@task(name="render-recipes", help=flags.RENDER_RECIPES)
@shows_errors
def render_recipes(c: Context, check: bool = False) -> None:
    """Render every variant's Dockerfile from base-images/templates/ and variants.toml."""
    print(recipes.render_recipes(open_project(), check=check))


@task(name="release-base-images", help=flags.RELEASE_BASE_IMAGES)
@shows_errors
def release_base_images(c: Context, dry_run: bool = False) -> None:
    """Tag HEAD as a release (base-images/v<version>) and push the tag, after every check."""
    plan = release.release(open_project(), dry_run=dry_run)
    prefix = "would run" if dry_run else "done"
    print("\n".join(f"{prefix}: {step}" for step in plan.steps()))


@task(name="publish-images", help=flags.PUBLISH_IMAGES)
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


@task(name="bake-file", help=flags.BAKE_FILE)
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


@task(name="bench", help=flags.BENCH)
@shows_errors
def run_bench(c: Context, bump_source: str = "") -> None:
    """Measure build cost and image figures against references from the same run."""
    # Imported here: bench loads packages of the test extra (gguf, numpy, bcrypt,
    # cryptography), which `pip install .` leaves out; every other task loads without them.
    from llama_images.commands import bench

    bench.run_and_report(open_project(), bump_source)
