"""Invoke tasks; each mirrors a Makefile target and calls one function of the package."""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit, ParseError
from invoke.parser.parser import ParseMachine
from invoke.tasks import task

from llama_images import builder, ci, drift, inventory, publish, recipes, release, toolchains
from llama_images.engine import Engine
from llama_images.errors import ProjectError
from llama_images.paths import output_file, user_path, write_text_atomically
from llama_images.project import Project
from llama_images.upstream import fetch_source

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])
INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT
_UNKNOWN_TOKEN = re.compile(r"No idea what '(?P<token>.+)' is!")


def shows_errors(function: F) -> F:
    """Turns a ProjectError or Ctrl-C into a one-line message and a non-zero exit."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ProjectError as exc:
            raise Exit(f"error: {exc.message}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("error: interrupted (Ctrl-C)", code=INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def closest_hint(token: str, names: Iterable[str]) -> str:
    """' Did you mean X?' for the known name closest to a mistyped one, else ''."""
    closest = difflib.get_close_matches(token, list(names), n=1)
    return f" Did you mean {closest[0]}?" if closest else ""


def _flag_hint(token: str, machine: Any) -> str:
    if machine.context is machine.initial:
        owners = sorted(name for name, ctx in machine.contexts.items() if token in ctx.flags)
        if owners:
            return f" Task flags follow the task's name, e.g. invoke {owners[0]} {token} ..."
    flags = [flag for flag in machine.context.flags if flag.startswith("--")]
    return closest_hint(token, flags)


def _parse_error_with_hint(machine: Any, message: str) -> None:
    unknown = _UNKNOWN_TOKEN.fullmatch(message)
    if unknown and unknown["token"].startswith("--"):
        message += _flag_hint(unknown["token"], machine)
    elif unknown and not unknown["token"].startswith("-"):
        message += closest_hint(unknown["token"], machine.contexts)
    raise ParseError(message, machine.context)


# invoke prints its parser's errors itself and offers no hook to add to them; the `invoke`
# users run is its own Program, so the hint goes into the parser (invoke is pinned to 3.0.3).
ParseMachine.error = _parse_error_with_hint  # type: ignore[method-assign,assignment]


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
    try:
        engine: Engine | None = Engine.connect(project.settings.docker, start=False)
    except ProjectError:
        engine = None
    print(inventory.version_status_table(project, engine))


@task(
    name="clean-local-images",
    help={"dry-run": "list what would be removed", "keep-current": "keep HEAD's version"},
)
@shows_errors
def clean_local_images(c: Context, dry_run: bool = False, keep_current: bool = False) -> None:
    """Remove the images this project built from the local engine."""
    project = open_project()
    engine = Engine.connect(project.settings.docker, start=False)
    keep = str(project.version()) if keep_current else None
    removed, kept = inventory.clean_local_images(engine, keep_version=keep, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {ref}" for ref in removed] + [f"kept {note}" for note in kept]
    print("\n".join(lines) or "no project image to remove")


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
    project = open_project()
    pin = project.pin()
    if upstream:
        tree = user_path(upstream, "--upstream").resolve()
    else:
        tree = fetch_source(pin, project.settings.cache_path, project.settings.source_path).path
    if update:
        path = drift.record(project.devops, drift.upstream_facts(tree), pin.tag, pin.commit)
        print(f"recorded upstream facts of {tree} in {path.relative_to(project.root)}")
        return
    catalog = project.catalog()
    recipes.check_recipes(catalog)
    report = drift.diff_upstream(
        catalog, project.devops, tree, project.base_images / "scripts" / "compile.sh"
    )
    print(drift.render(report))
    if report.drifted:
        raise Exit(code=1)


@task(
    name="render-recipes",
    help={"check": "change nothing; fail, naming them, if recipes are out of date"},
)
@shows_errors
def render_recipes(c: Context, check: bool = False) -> None:
    """Render every variant's Dockerfile from base-images/templates/ and variants.toml."""
    catalog = open_project().catalog()
    if check:
        recipes.check_recipes(catalog)
        print(f"all {len(catalog.variants)} recipes match their sources")
        return
    changed = recipes.write_recipes(catalog)
    root = open_project().root
    print("\n".join(f"rendered {p.relative_to(root)}" for p in changed) or "no recipe changed")


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
    mode: str = "all",
    dry_run: bool = False,
) -> None:
    """Push HEAD's images per platform, merge them into manifest lists, smoke-test, move latest."""
    project = open_project(variants=variants, registry=registry, platforms=platforms)
    results = publish.publish(project, dry_run=dry_run, mode=mode)
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
    destination = output_file(output, "--output")
    project = open_project(variants=variants, platforms=platforms, base_mode="upstream")
    plan = builder.prepare_plan(project, builder.select(project), None, dry_run=True)
    builder.stage_context(project, plan, local_source=bool(project.settings.source_path))
    definition = ci.bake_definition(plan, cache, parent, branch)
    write_text_atomically(destination, json.dumps(definition, indent=2) + "\n")
    print(f"wrote {output}: {len(definition['target'])} targets")


@task(
    name="bench",
    help={"bump-source": "a newer llama.cpp tree: also measure a pin-bump rebuild"},
)
@shows_errors
def run_bench(c: Context, bump_source: str = "") -> None:
    """Measure build cost and image figures against references from the same run."""
    # Imported here: bench loads packages of the test extra (gguf, numpy, bcrypt,
    # cryptography), which `pip install .` leaves out; every other task loads without them.
    from llama_images import bench

    project = open_project()
    workdir = project.settings.cache_path / "bench"
    result = bench.run_bench(project, workdir, bump_source=bump_source)
    print(bench.render(result))
    path = bench.write_results(result, ROOT / project.settings.results_dir)
    print(f"figures written to {path}")
    if result.failed:
        raise Exit(f"error: bench steps failed: {', '.join(result.failed)}", code=1)
