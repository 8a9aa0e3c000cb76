"""`build-local`: resolve everything, stage the build context, build, then tag."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from llama_images.adapters.emulation import emulation_missing
from llama_images.adapters.engine import BackgroundBuild, Engine
from llama_images.adapters.manifest import first_difference, tree_manifest
from llama_images.adapters.npm import (
    DONE_MARKER,
    UI_FOLDER,
    link_tree,
    lock_key,
    ui_package_cache,
)
from llama_images.adapters.pypi import pinned_wheel
from llama_images.adapters.source import VERIFIED_MARKER, Pin, SourceTree, fetch_source
from llama_images.building.bases import BaseResolver, ResolvedBases
from llama_images.building.buildlog import StepWatch
from llama_images.building.dockerfile import parse_dockerfile
from llama_images.building.plan import (
    CROSS_BUILDER_STAGE,
    WEB_STAGE,
    BuildPlan,
    PlanInputs,
    ccache_image,
    image_repository,
    make_plan,
    select_targets,
    toolchain_key,
    ui_image,
    ui_key,
)
from llama_images.building.recipes import check_recipes
from llama_images.building.steps import EngineSteps, connect
from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog, Variant, host_platform
from llama_images.model.metadata import CORE_TARGET, MODULE_TARGET, write_json_atomically
from llama_images.model.project import Project
from llama_images.paths import link_or_copy
from llama_images.report import human_size, table

SOURCE_IGNORED_NAMES = (".git", "build", "__pycache__")
SOURCE_IGNORE = shutil.ignore_patterns(*SOURCE_IGNORED_NAMES)
# The context folder of the toolkit wheels the recipes' toolchain stages unpack.
TOOLKITS = "toolkits"


@dataclass(frozen=True)
class BuiltImage:
    variant: str
    platform: str
    target: str
    image_id: str
    tags: tuple[str, ...]
    seconds: float
    size: int
    ccache: str  # "hits/calls (rate)" of the compile step, "cached" when it did not run
    log_path: Path | None = None  # the engine's output of this build


# Each compile's "Hits" line follows its "Cacheable calls" line (the "Local storage"
# section repeats it).
_CCACHE_HITS = re.compile(r"Cacheable calls:[^\n]*\n[^\n]*Hits:\s+(\d+)\s*/\s*(\d+)")


def ccache_summary(log: str) -> str:
    """The compile steps' ccache hit rate, from the statistics compile.sh prints."""
    found = _CCACHE_HITS.findall(log)
    if not found:
        return "cached"
    hits, calls = (sum(int(pair[i]) for pair in found) for i in (0, 1))
    return f"{hits}/{calls} ({100 * hits / calls:.0f}%)" if calls else "0/0"


def check_platforms(
    variants: list[Variant], platforms: list[str], builder_target: str = "fromsource"
) -> None:
    """Each platform is one the variant supports; a foreign one runs its runtime stages under
    emulation, which the host must provide, and a cross build has no prebuilt builder."""
    for variant in variants:
        unsupported = [p for p in platforms if p not in variant.platforms]
        if unsupported:
            raise ProjectError(
                f"variant {variant.name} is not built for {', '.join(unsupported)}: "
                f"it supports {', '.join(variant.platforms)}"
            )
    for platform in [p for p in platforms if p != host_platform()]:
        why = emulation_missing(platform)
        if why:
            raise ProjectError(f"building {platform} on {host_platform()}: {why}")
        crossed = [v.name for v in variants if v.recipe.cross_packages]
        if crossed and builder_target == "prebuilt":
            raise ProjectError(
                f"{', '.join(crossed)} on {platform} cross-compile, and prebuilt builders are "
                "made for native builds only: drop --builder-target prebuilt"
            )


def context_dir(cache: Path, source: SourceTree) -> Path:
    key = hashlib.sha256(str(source.path).encode()).hexdigest()[:16]
    return cache / "contexts" / key


def _ignored_in_context(name: str) -> bool:
    return any(part in SOURCE_IGNORED_NAMES for part in name.split("/"))


def context_copy_difference(source: SourceTree, copy: Path) -> str | None:
    """How the build context's copy of a cached source differs from its verified manifest."""
    if source.files is None:
        return "the source has no manifest"
    expected = {name: d for name, d in source.files.items() if not _ignored_in_context(name)}
    return first_difference(expected, tree_manifest(copy, exclude={VERIFIED_MARKER}))


def _copy_is_stale(source: SourceTree, copy: Path, ready: Path) -> bool:
    if not ready.is_file():
        return True
    difference = context_copy_difference(source, copy)
    if difference is not None:
        print(f"==> build context's source copy: {difference}: copying it again", file=sys.stderr)
    return difference is not None


def copy_source(source: Path, copy: Path) -> None:
    """Copies a source tree into the build context; what cannot be copied is one error."""
    try:
        shutil.copytree(source, copy, symlinks=True, ignore=SOURCE_IGNORE)
    except shutil.Error as exc:
        shutil.rmtree(copy, ignore_errors=True)
        path, _, why = exc.args[0][0]
        raise ProjectError(f"cannot copy {path} into the build context: {why}") from None
    except OSError as exc:
        shutil.rmtree(copy, ignore_errors=True)
        raise ProjectError(f"cannot copy {source} into the build context: {exc}") from None


def stage_context(project: Project, plan: BuildPlan, local_source: bool) -> None:
    """Lays out the build context: the verified source copy, the scripts, version.json."""
    context = plan.context
    tree = context / "llama.cpp"
    ready = context / ".source-ready"
    if local_source or _copy_is_stale(plan.source, tree, ready):
        shutil.rmtree(context, ignore_errors=True)
        context.mkdir(parents=True)
        copy_source(plan.source.path, tree)
        ready.write_text(plan.source.origin + "\n")
    scripts = context / "base-images" / "scripts"
    shutil.rmtree(scripts, ignore_errors=True)
    shutil.copytree(project.base_images / "scripts", scripts)
    stage_ui_packages(project, plan)
    stage_toolkit_wheels(project, plan)
    for build in plan.builds:
        write_json_atomically(build.version_json_path, build.record.version_json())


@dataclass(frozen=True)
class Selection:
    """What a command is asked to build, checked from files alone, before any engine or copy."""

    catalog: Catalog
    variants: list[Variant]
    platforms: list[str]
    targets: tuple[str, ...]
    pin: Pin


def select(project: Project) -> Selection:
    settings = project.settings
    catalog = project.catalog()
    check_recipes(catalog)
    variants = catalog.select(list(settings.variants))
    platforms = list(settings.platforms)
    check_platforms(variants, platforms, settings.builder_target)
    targets = select_targets(variants, list(settings.targets))
    return Selection(catalog, variants, platforms, targets, project.pin())


def stage_ui_packages(project: Project, plan: BuildPlan) -> None:
    """The web UI's npm cache in the context (npm-cache/), fetched once per lock file."""
    packages = ui_package_cache(plan.source.path, project.settings.cache_path)
    staged = plan.context / "npm-cache"
    marker = plan.context / ".npm-cache-key"
    key = lock_key(plan.source.path)
    fetched = packages.parent / DONE_MARKER
    if (
        marker.is_file()
        and marker.read_text().strip() == key
        and staged.is_dir()
        and marker.stat().st_mtime_ns >= fetched.stat().st_mtime_ns
    ):
        return
    link_tree(packages, staged)
    marker.write_text(key + "\n")


def stage_toolkit_wheels(project: Project, plan: BuildPlan) -> None:
    """The toolkit wheel of each planned variant that has one, in the context (toolkits/),
    from the cache, where it is checked against the catalog's sha256 every time."""
    catalog = project.catalog()
    toolkits = {catalog.variants[build.variant].toolkit for build in plan.builds}
    for toolkit in sorted((t for t in toolkits if t.wheel), key=lambda t: t.wheel):
        cached = pinned_wheel(
            toolkit.wheel_project, toolkit.wheel, toolkit.sha256, project.settings.cache_path
        )
        staged = plan.context / TOOLKITS / toolkit.wheel
        if staged.is_file() and staged.samefile(cached):
            continue
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.unlink(missing_ok=True)
        link_or_copy(cached, staged)


def prepare_plan(
    project: Project,
    selection: Selection,
    engine: Engine | None,
    *,
    dry_run: bool = False,
    no_cache: bool = False,
) -> BuildPlan:
    """The plan. Without an engine (dry runs only) bases follow the mode, unprobed."""
    settings = project.settings
    commit = project.commit()
    version = project.version()
    catalog, variants, platforms, targets, pin = (
        selection.catalog,
        selection.variants,
        selection.platforms,
        selection.targets,
        selection.pin,
    )
    source = fetch_source(pin, settings.cache_path, settings.source_path)
    cpu = catalog.variants.get("cpu")
    # The cpu core's bases decide whether a GPU variant can reuse its core.
    resolved = [*variants, cpu] if cpu is not None and cpu not in variants else variants
    host = host_platform()
    foreign = [p for p in platforms if p != host]
    bases: dict[str, ResolvedBases] = {}
    if settings.base_override:
        override = settings.base_override
        bases = {v.name: ResolvedBases(override, override, "offline") for v in resolved}
    elif engine is None:
        mode = "offline" if settings.base_mode == "auto" else settings.base_mode
        for variant in resolved:
            base = catalog.offline.for_variant(variant.offline)
            runtimes = {p: base.ref_on(p) for p in foreign}
            bases[variant.name] = (
                ResolvedBases(base.ref, base.ref, "offline", runtimes)
                if mode == "offline"
                else ResolvedBases(variant.bases.build, variant.bases.runtime, "upstream")
            )
    else:
        resolver = BaseResolver(
            engine,
            catalog.offline,
            settings.base_mode,
            mirror=settings.debian_mirror,
            workdir=settings.cache_path,
            dry_run=dry_run,
        )
        bases = {variant.name: resolver.resolve(variant, foreign) for variant in resolved}
    repository = image_repository(settings.registry, settings.repo)
    seeds = ccache_seeds(
        engine if not dry_run else None, settings.ccache_registry, settings.repo, bases, platforms
    )
    inputs = PlanInputs(
        version=version,
        commit=commit,
        pin=pin,
        source=source,
        repository=repository,
        context=context_dir(settings.cache_path, source),
        source_url=project.source_url(),
        no_cache=no_cache,
        builder_target=settings.builder_target,
        ccache_seeds=seeds,
        scripts=project.base_images / "scripts",
        # The web stage's base follows the profile: upstream's bases pulled, or offline.
        web_bases={"upstream": catalog.web_ui.base, "offline": catalog.offline.ref},
        host_platform=host,
    )
    if settings.ccache_registry and engine is not None and not dry_run:
        web_bases = {inputs.web_bases[b.profile] for b in bases.values()}
        repository_of_seeds = image_repository(settings.ccache_registry, settings.repo)
        wanted = planned_ui_images(catalog, source, pin, repository_of_seeds, web_bases)
        seeds = pulled_seeds(engine, wanted, "the web stage on {key} builds the UI")
        inputs = replace(inputs, ui_seeds=seeds)
    plan = make_plan(inputs, variants, bases, platforms, targets, cpu)
    return plan


def planned_ui_images(
    catalog: Catalog, source: SourceTree, pin: Pin, repository: str, web_bases: set[str]
) -> dict[str, str]:
    """The exported web UI image each web stage base would have, by that base."""
    recipe = next(iter(catalog.variants.values())).dockerfile
    stage = parse_dockerfile(recipe).stage(WEB_STAGE)
    text = "\n".join(f"{i.keyword} {i.value}" for i in stage.instructions)
    files = tree_manifest(source.path / UI_FOLDER)
    return {
        base: ui_image(repository, ui_key(files, text, base, pin.build_number))
        for base in sorted(web_bases)
    }


def pulled_seeds(engine: Engine, wanted: dict[str, str], missing: str) -> dict[str, str]:
    """The wanted seed images (by key) a registry has, pulled; a missing or unreachable one
    only means that builds do without it (`missing` says what happens then)."""
    seeds: dict[str, str] = {}
    for key, ref in sorted(wanted.items()):
        if engine.try_pull(ref):
            seeds[key] = ref
            print(f"==> seed {ref}", file=sys.stderr)
        else:
            print(f"==> no seed at {ref}: {missing.format(key=key)}", file=sys.stderr)
    return seeds


def ccache_seeds(
    engine: Engine | None,
    registry: str,
    repo: str,
    bases: dict[str, ResolvedBases],
    platforms: list[str],
) -> dict[str, str]:
    """The exported ccache images present in the registry, by toolchain."""
    if not registry or engine is None:
        return {}
    keys = {toolchain_key(b.build, p) for b in bases.values() for p in platforms}
    wanted = {key: ccache_image(image_repository(registry, repo), key) for key in keys}
    return pulled_seeds(engine, wanted, "builds of {key} start cold")


def describe_plan(plan: BuildPlan, docker_cli: str) -> str:
    head = table(
        ["version", "commit", "dirty", "llama.cpp source", "proof"],
        [
            [
                str(plan.version),
                plan.commit.sha[:12],
                str(plan.commit.dirty).lower(),
                plan.source.origin,
                plan.source.proof,
            ]
        ],
    )
    builds = table(
        ["variant", "platform", "target", "bases", "runtime base", "core", "tags"], plan.rows()
    )
    commands = "\n".join(plan.commands(docker_cli))
    return f"{head}\n{builds}\nengine invocations (DOCKER_BUILDKIT=1):\n{commands}"


def check_builder_images(engine: Engine, plan: BuildPlan) -> None:
    """With prebuilt builders, every builder image must exist before anything is built."""
    for build in plan.builds:
        ref = build.request.build_args.get("BUILDER_IMAGE")
        if ref in (None, CROSS_BUILDER_STAGE):
            continue  # the recipe's own stage
        if not engine.image_exists(ref) and not engine.try_pull(ref):
            raise ProjectError(
                f"prebuilt builder {ref} is neither local nor pullable: run "
                "`invoke build-builders` first, or build with --builder-target fromsource"
            )


class Tagger(Protocol):
    """What tagging needs of the engine (a protocol, so the decisions can be tested alone)."""

    def image_exists(self, ref: str) -> bool: ...
    def image_id(self, ref: str) -> str: ...
    def image_tags(self, ref: str) -> list[str]: ...
    def tag(self, image_id: str, ref: str) -> None: ...
    def remove_image(self, image_id: str) -> None: ...


@dataclass(frozen=True)
class KeptImage:
    """An earlier image that lost its tags but stays, because the engine still needs it."""

    image_id: str
    former_tags: tuple[str, ...]
    reason: str

    def note(self) -> str:
        short = self.image_id.removeprefix("sha256:")[:12]
        return (
            f"kept the previous image {short} (was {', '.join(self.former_tags)}): "
            f"the engine says {self.reason!r}; docker image rm {short} removes it once unused"
        )


def replaced_images(previous: dict[str, str], built: list[BuiltImage]) -> dict[str, list[str]]:
    """Earlier image ids whose tags now name new images, with the tags they had."""
    new_ids = {image.image_id for image in built}
    replaced: dict[str, list[str]] = {}
    for tag, image_id in previous.items():
        if image_id not in new_ids:
            replaced.setdefault(image_id, []).append(tag)
    return replaced


def tag_all(engine: Tagger, built: list[BuiltImage]) -> list[KeptImage]:
    """Points every tag at its new image; earlier images left with no tag are removed.

    An earlier image the engine keeps (ImageInUse: an application image was built FROM it)
    or fails to remove stays: the build succeeded, so that is a note, never a failure.
    """
    tags = [tag for image in built for tag in image.tags]
    previous = {tag: engine.image_id(tag) for tag in tags if engine.image_exists(tag)}
    for image in built:
        for tag in image.tags:
            engine.tag(image.image_id, tag)
    kept: list[KeptImage] = []
    for image_id, former in replaced_images(previous, built).items():
        if not engine.image_exists(image_id) or engine.image_tags(image_id):
            continue
        try:
            engine.remove_image(image_id)
        except ProjectError as exc:
            kept.append(KeptImage(image_id, tuple(former), exc.message))
    return kept


@dataclass
class ModuleCompiles:
    """The module compile of every variant composed on this run's core, started beside the
    core's build once that build runs a step: on a cold run the two compiles fill each
    other's idle cores, and the module's toolchain installs while the core compiles. A core
    answered from the cache starts none (a no-op rebuild runs no build it does not need);
    the composed build then finds its module cached, or compiles it itself."""

    engine: Engine
    plan: BuildPlan
    log_dir: Path
    running: dict[tuple[str, str], BackgroundBuild] = field(default_factory=dict)
    core_steps: StepWatch = field(default_factory=StepWatch)

    def watch_core(self, line: str) -> None:
        if self.core_steps.feed(line):
            self.start()

    def start(self) -> None:
        for (variant, platform), request in self.plan.module_compiles().items():
            print(
                f"==> compiling the {variant} module ({platform}) beside the core", file=sys.stderr
            )
            log_path = self.log_dir / f"build-{variant}-{MODULE_TARGET}-{self.plan.version}.log"
            self.running[(variant, platform)] = self.engine.start_build(request, log_path)

    def stop(self) -> None:
        for module in self.running.values():
            module.stop()


def finish_module_compile(engine: Engine, variant: str, module: BackgroundBuild) -> BuiltImage:
    """Waits for a module compile; its stage stays in the build cache for the composed
    build, and its image, which nothing is built from, is removed."""
    print(f"==> waiting for the {variant} module compile", file=sys.stderr)
    image_id = module.finish()
    size = engine.image_size(image_id)
    engine.remove_image(image_id)
    return BuiltImage(
        variant,
        module.request.platform,
        MODULE_TARGET,
        image_id,
        (),
        module.seconds,
        size,
        ccache_summary(module.log_path.read_text(errors="replace")),
        module.log_path,
    )


def build_local(
    project: Project, *, dry_run: bool = False, no_cache: bool = False
) -> list[BuiltImage]:
    """Builds every planned image; tags them only once every build has succeeded."""
    selection = select(project)
    engine = connect(project, dry=dry_run)
    plan = prepare_plan(project, selection, engine, dry_run=dry_run, no_cache=no_cache)
    print(describe_plan(plan, project.settings.docker))
    if dry_run or engine is None:
        return []
    check_builder_images(engine, plan)
    stage_context(project, plan, local_source=bool(project.settings.source_path))
    steps = EngineSteps(engine, project.settings.cache_path / "logs")
    modules = ModuleCompiles(engine, plan, steps.log_dir)
    built: list[BuiltImage] = []
    try:
        for build in plan.builds:
            module = modules.running.pop((build.variant, build.platform), None)
            if module is not None:
                built.append(finish_module_compile(engine, build.variant, module))
            print(
                f"==> building {build.variant} {build.target} ({build.platform})", file=sys.stderr
            )
            log_name = f"build-{build.variant}-{build.target}-{plan.version}"
            started = time.monotonic()
            watch = modules.watch_core if build.target == CORE_TARGET else None
            image_id = steps.build(log_name, build.request, watch)
            log_path = steps.log_dir / f"{log_name}.log"
            built.append(
                BuiltImage(
                    build.variant,
                    build.platform,
                    build.target,
                    image_id,
                    build.tags,
                    time.monotonic() - started,
                    engine.image_size(image_id),
                    ccache_summary(log_path.read_text(errors="replace")),
                    log_path,
                )
            )
            if build.target == CORE_TARGET:
                # An intermediate the composed builds of this run read: tagged at once.
                for tag in build.tags:
                    engine.tag(image_id, tag)
    finally:
        modules.stop()
    kept = tag_all(engine, [i for i in built if i.target not in (CORE_TARGET, MODULE_TARGET)])
    print(
        table(
            ["variant", "platform", "target", "seconds", "ccache hits", "size", "image", "tags"],
            [
                [
                    i.variant,
                    i.platform,
                    i.target,
                    f"{i.seconds:.0f}",
                    i.ccache,
                    human_size(i.size),
                    i.image_id.removeprefix("sha256:")[:12],
                    "\n".join(i.tags),
                ]
                for i in built
            ],
            title=f"built {plan.version}",
        )
    )
    for image in kept:
        print(image.note())
    return built
