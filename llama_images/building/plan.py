"""The build plan: per variant, platform and target, the exact engine invocation."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from llama_images.adapters.engine import BuildRequest
from llama_images.adapters.source import Pin, SourceTree
from llama_images.building.bases import ResolvedBases
from llama_images.building.dockerfile import parse_dockerfile
from llama_images.errors import ProjectError, did_you_mean
from llama_images.model.catalog import (
    Variant,
    gnu_triple,
    toolchain,
    toolkit_version,
    triple_for,
)
from llama_images.model.metadata import CORE_TARGET, MODULE_TARGET, ImageRecord
from llama_images.model.settings import BuilderTarget
from llama_images.model.tags import FLAVOURS, TARGETS, ImageTag
from llama_images.model.version import BuildVersion, CommitFacts

BUILDER_STAGE = "builder-fromsource"
# The toolchain plus the target's cross compilers and libraries (toolchain.j2).
CROSS_BUILDER_STAGE = "builder-cross"


@dataclass(frozen=True)
class CoreChoice:
    """Where one variant's folder gets its core, and why."""

    kind: str  # "cpu", "own" or "single" (see ImageRecord.core)
    reason: str


_DISTRIBUTION = re.compile(r"(ubuntu|debian)[:\-]?(\d+\.\d+|[a-z]+)")
# Debian's codenames in release order; unstable is newer than any release.
_DEBIAN_RELEASES = ("buster", "bullseye", "bookworm", "trixie", "forky", "duke")
_DEBIAN_UNSTABLE = ("sid", "unstable")


def toolchain_family(build_base: str) -> str:
    """The distribution release a build base is made of: `nvidia/cuda:…-ubuntu24.04` and
    `ubuntu:24.04` are both ubuntu-24.04 (same glibc, same gcc-14 packages)."""
    found = _DISTRIBUTION.search(build_base.rsplit("/", 1)[-1])
    return f"{found[1]}-{found[2]}" if found else build_base


def release_rank(family: str) -> tuple[str, float] | None:
    """(distribution, a number that orders its releases), or None for an unknown release."""
    distribution, _, release = family.partition("-")
    if distribution == "ubuntu" and re.fullmatch(r"\d+\.\d+", release):
        return distribution, float(release)
    if distribution == "debian":
        if release in _DEBIAN_RELEASES:
            return distribution, float(_DEBIAN_RELEASES.index(release) + 10)
        if release in _DEBIAN_UNSTABLE:
            return distribution, float("inf")
        if release.isdigit():
            return distribution, float(release)
    return None


def runs_on(core_family: str, *families: str) -> bool:
    """Whether a core built on `core_family` runs on each of `families`, in order: the same
    distribution, each release no older than the one before (glibc and libstdc++ only
    add symbols)."""
    ranks = [release_rank(f) for f in (core_family, *families)]
    if any(rank is None for rank in ranks) or len({r[0] for r in ranks if r}) != 1:
        return False
    numbers = [r[1] for r in ranks if r]
    return numbers == sorted(numbers)


def choose_core(variant: Variant, bases: ResolvedBases, cpu_bases: ResolvedBases) -> CoreChoice:
    """A variant reuses the cpu core when it builds and runs on the core's distribution, on
    the core's release or a newer one; its module then links the core's libraries by soname."""
    if not variant.is_gpu:
        return CoreChoice("single", "is the core")
    if not variant.composition.core:
        return CoreChoice("single", variant.composition.reason)
    core = toolchain_family(cpu_bases.build)
    build, runtime = toolchain_family(bases.build), toolchain_family(bases.runtime)
    modules = ", ".join(variant.backend_modules)
    if build == core:
        return CoreChoice("cpu", f"cpu core + {modules}")
    if runs_on(core, build, runtime):
        return CoreChoice("cpu", f"cpu core ({core}) + {modules} built on {build}")
    return CoreChoice(
        "own",
        f"builds on {build} and runs on {runtime}: the cpu core ({core}) runs only on"
        " its own distribution, at its release or a newer one",
    )


def toolchain_key(build_base: str, platform: str) -> str:
    """The name of one toolchain's exported ccache: its build base and architecture."""
    slug = re.sub(r"[^a-z0-9]+", "-", build_base.lower().removeprefix("docker.io/")).strip("-")
    return f"{slug}-{platform.rsplit('/', 1)[-1]}"


def builder_key(variant: Variant, build_args: dict[str, str], scripts: Path) -> str:
    """A digest of everything the toolchain stage is made of: its text, its args, its scripts."""
    stage = parse_dockerfile(variant.dockerfile).stage(BUILDER_STAGE)
    digest = hashlib.sha256()
    for instruction in stage.instructions:
        digest.update(f"{instruction.keyword} {instruction.value}\n".encode())
    digest.update(stage.base.encode())
    for key in sorted(build_args):
        digest.update(f"{key}={build_args[key]}\n".encode())
    for instruction in stage.instructions:
        if instruction.keyword == "COPY":
            for script in re.findall(r"base-images/scripts/([\w.-]+)", instruction.value):
                digest.update((scripts / script).read_bytes())
    return digest.hexdigest()[:12]


def builder_image(repository: str, variant: str, platform: str, key: str) -> str:
    return f"{repository}-builder:{variant}-{platform.rsplit('/', 1)[-1]}-{key}"


def core_image(repository: str, version: BuildVersion, platform: str) -> str:
    return f"{repository}-core:cpu-{version}-{platform.rsplit('/', 1)[-1]}"


def ccache_image(repository: str, key: str) -> str:
    return f"{repository}-ccache:{key}"


# The recipes' stage holding the built web UI alone, and their stage that builds it.
WEB_DIST_STAGE = "web-dist"
WEB_STAGE = "web"


def ui_image(repository: str, key: str) -> str:
    return f"{repository}-ui:{key}"


def ui_key(ui_files: dict[str, str], web_stage: str, web_base: str, build_number: int) -> str:
    """A digest of everything the built UI is made of: its sources, the stage that builds
    it, that stage's base and the build number it shows."""
    digest = hashlib.sha256()
    for name, entry in sorted(ui_files.items()):
        digest.update(f"{name} {entry}\n".encode())
    digest.update(f"{web_stage}\n{web_base}\n{build_number}\n".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ImageBuild:
    variant: str
    platform: str
    target: str
    request: BuildRequest
    tags: tuple[str, ...]
    record: ImageRecord
    core: CoreChoice = field(default_factory=lambda: CoreChoice("single", ""))

    @property
    def version_json_path(self) -> Path:
        return meta_path(self.request.context, self.record.version, self.variant, self.platform)


@dataclass(frozen=True)
class BuildPlan:
    version: BuildVersion
    commit: CommitFacts
    source: SourceTree
    context: Path
    builds: tuple[ImageBuild, ...]

    def commands(self, docker_cli: str) -> list[str]:
        """The engine invocations in order; those ending in `&` run beside the others, from
        the first step a core's build runs (a cached core starts none)."""
        beside = [f"{shlex.join(r.argv(docker_cli))} &" for r in self.module_compiles().values()]
        return [*beside, *(shlex.join(b.request.argv(docker_cli)) for b in self.builds)]

    def rows(self) -> list[list[str]]:
        return [
            [
                b.variant,
                b.platform,
                b.target,
                b.record.base_profile,
                b.request.build_args["RUNTIME_BASE"],
                f"{b.core.kind}: {b.core.reason}",
                "\n".join(b.tags),
            ]
            for b in self.builds
        ]

    def module_compiles(self) -> dict[tuple[str, str], BuildRequest]:
        """Per variant and platform composed on this run's core, its module stage's build:
        it needs no core, so it can compile while the core does. None with --no-cache,
        where the composed build would compile the module again."""
        modules: dict[tuple[str, str], BuildRequest] = {}
        for build in self.builds:
            if build.core.kind == "cpu" and not build.request.no_cache:
                modules.setdefault(
                    (build.variant, build.platform),
                    replace(build.request, target=MODULE_TARGET, labels={}),
                )
        return modules

    def toolchains(self) -> dict[str, ImageBuild]:
        """One build per toolchain (build base and platform): where its ccache is exported."""
        chosen: dict[str, ImageBuild] = {}
        for build in self.builds:
            key = toolchain_key(build.request.build_args["BUILD_BASE"], build.platform)
            chosen.setdefault(key, build)
        return chosen


def image_repository(registry: str, repo: str) -> str:
    return f"{registry.rstrip('/')}/{repo}" if registry else repo


def image_tags(
    repository: str, variant: str, target: str, version: BuildVersion, platform: str = ""
) -> tuple[str, str]:
    """The versioned and the moving `latest` reference of one image; of one of its platforms
    when `platform` is named."""
    tag = ImageTag(variant, target, version)
    if platform:
        tag = tag.on(platform)
    return f"{repository}:{tag}", f"{repository}:{tag.latest()}"


def meta_path(context: Path, version: BuildVersion, variant: str, platform: str) -> Path:
    """Where a build's version.json is staged: per version, so that runs of the same
    context (another version's build, a bake file) never change what a build copies."""
    return context / "meta" / str(version) / variant / platform.replace("/", "-") / "version.json"


def select_targets(variants: list[Variant], targets: list[str]) -> tuple[str, ...]:
    known = (*TARGETS, *FLAVOURS)
    unknown = [name for name in targets if name not in known]
    if unknown:
        raise ProjectError(
            f"unknown target {', '.join(unknown)}: known targets are {', '.join(known)}"
            f"{did_you_mean(unknown[0], known)}"
        )
    for name in set(targets) & set(FLAVOURS):
        lacking = [v.name for v in variants if name not in v.flavours]
        if lacking:
            raise ProjectError(f"variant {', '.join(lacking)} has no {name} flavour")
    return tuple(name for name in known if name in targets)


@dataclass(frozen=True)
class PlanInputs:
    """What every build of a plan shares: the version, the source, where images go."""

    version: BuildVersion
    commit: CommitFacts
    pin: Pin
    source: SourceTree
    repository: str
    context: Path
    source_url: str
    no_cache: bool = False
    builder_target: BuilderTarget = "fromsource"
    ccache_seeds: dict[str, str] = field(default_factory=dict)
    # Exported web UI images present in the registry, by the web stage's base.
    ui_seeds: dict[str, str] = field(default_factory=dict)
    scripts: Path = Path("base-images/scripts")
    # The web UI stage's base per base profile; empty: the recipes' default.
    web_bases: dict[str, str] = field(default_factory=dict)
    # Other platforms are cross-compiled (recipes with cross_packages) or emulated.
    host_platform: str = "linux/amd64"


def make_plan(
    inputs: PlanInputs,
    variants: list[Variant],
    bases: dict[str, ResolvedBases],
    platforms: list[str],
    targets: tuple[str, ...] = TARGETS,
    cpu: Variant | None = None,
) -> BuildPlan:
    """Every build, in order: the cpu core first, when a composed variant needs it."""
    by_name = {v.name: v for v in variants}
    cpu_variant = by_name.get("cpu", cpu)
    choices = {
        v.name: (
            choose_core(v, bases[v.name], bases["cpu"])
            if "cpu" in bases
            else CoreChoice("own" if v.composition.core else "single", "no cpu core planned")
        )
        for v in variants
    }
    needs_core = any(c.kind == "cpu" for c in choices.values())
    if needs_core and cpu_variant is None:
        raise ProjectError("a composed variant needs the cpu variant's catalog entry")
    ordered = list(variants)
    if needs_core and cpu_variant is not None and "cpu" not in by_name:
        ordered.insert(0, cpu_variant)
    builds: list[ImageBuild] = []
    for variant in ordered:
        choice = choices.get(variant.name, CoreChoice("single", "is the core"))
        variant_targets = targets if variant.name in by_name else ()
        if variant.name == "cpu" and needs_core:
            variant_targets = (CORE_TARGET, *variant_targets)
        for platform in platforms:
            builds += _platform_builds(
                inputs,
                variant,
                bases[variant.name],
                choice,
                platform,
                variant_targets,
                # One tag per platform where a plain tag could name another platform's image.
                tag_platform=len(platforms) > 1 or platform != inputs.host_platform,
            )
    return BuildPlan(
        version=inputs.version,
        commit=inputs.commit,
        source=inputs.source,
        context=inputs.context,
        builds=tuple(builds),
    )


def _platform_builds(
    inputs: PlanInputs,
    variant: Variant,
    chosen: ResolvedBases,
    choice: CoreChoice,
    platform: str,
    targets: tuple[str, ...],
    tag_platform: bool,
) -> list[ImageBuild]:
    """One variant's builds on one platform: a build request per target, one record."""
    record = _record(inputs, variant, chosen, choice, platform)
    build_args = _build_args(inputs, variant, chosen, choice, platform)
    builds = []
    for target in targets:
        request = BuildRequest(
            dockerfile=variant.dockerfile,
            context=inputs.context,
            target=target,
            platform=platform,
            build_args=build_args,
            labels=record.labels(target),
            no_cache=inputs.no_cache,
        )
        tags = (
            (core_image(inputs.repository, inputs.version, platform),)
            if target == CORE_TARGET
            else image_tags(
                inputs.repository,
                variant.name,
                target,
                inputs.version,
                platform if tag_platform else "",
            )
        )
        builds.append(ImageBuild(variant.name, platform, target, request, tags, record, choice))
    return builds


def _record(
    inputs: PlanInputs,
    variant: Variant,
    chosen: ResolvedBases,
    choice: CoreChoice,
    platform: str,
) -> ImageRecord:
    """The facts an image carries as labels and in version.json."""
    return ImageRecord(
        version=inputs.version,
        commit=inputs.commit,
        variant=variant.name,
        platform=platform,
        triple=triple_for(platform),
        description=variant.description,
        source_url=inputs.source_url,
        base_profile=chosen.profile,
        build_base=chosen.build,
        runtime_base=chosen.runtime_on(platform),
        toolchain=toolchain(variant, chosen.profile),
        toolkit_name=variant.toolkit.name,
        toolkit_version=toolkit_version(variant, chosen.profile),
        llama_tag=inputs.pin.tag,
        llama_commit=inputs.pin.commit,
        llama_build_number=inputs.pin.build_number,
        llama_source=inputs.source.origin,
        core=choice.kind,
    )


def _build_args(
    inputs: PlanInputs,
    variant: Variant,
    chosen: ResolvedBases,
    choice: CoreChoice,
    platform: str,
) -> dict[str, str]:
    """The build args of one variant on one platform: bases, triple, pin, core, builder."""
    args = {
        **variant.build_args,
        **(variant.offline.build_args if chosen.profile == "offline" else {}),
        "TRIPLE": triple_for(platform),
        **({"WEB_BASE": inputs.web_bases[chosen.profile]} if inputs.web_bases else {}),
        "BUILD_BASE": chosen.build,
        "RUNTIME_BASE": chosen.runtime_on(platform),
        "LLAMA_BUILD_NUMBER": str(inputs.pin.build_number),
        "LLAMA_BUILD_COMMIT": inputs.pin.short_commit,
        "VERSION_JSON": meta_path(inputs.context, inputs.version, variant.name, platform)
        .relative_to(inputs.context)
        .as_posix(),
    }
    if choice.kind == "cpu":
        args["CORE_IMAGE"] = core_image(inputs.repository, inputs.version, platform)
    if platform != inputs.host_platform and variant.recipe.cross_packages:
        args["BUILDER_IMAGE"] = CROSS_BUILDER_STAGE
        args["CROSS_ARCH"] = platform.rsplit("/", 1)[-1]
        args["CROSS_TRIPLE"] = gnu_triple(platform)
    elif inputs.builder_target == "prebuilt":
        key = builder_key(variant, args, inputs.scripts)
        args["BUILDER_IMAGE"] = builder_image(inputs.repository, variant.name, platform, key)
    seed = inputs.ccache_seeds.get(toolchain_key(chosen.build, platform))
    if seed:
        args["CCACHE_SEED"] = seed
    ui_seed = inputs.ui_seeds.get(args.get("WEB_BASE", ""))
    if ui_seed:
        args["UI_IMAGE"] = ui_seed
    return args
