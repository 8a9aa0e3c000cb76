"""The build plan: per variant, platform and target, the exact engine invocation."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from llama_images.bases import ResolvedBases
from llama_images.catalog import Variant, toolchain, toolkit_version, triple_for
from llama_images.engine import BuildRequest
from llama_images.metadata import ImageRecord
from llama_images.upstream import Pin, SourceTree
from version import BuildVersion, CommitFacts

# `runtime` is the base layer applications build on; `server` runs llama-server.
TARGETS = ("runtime", "server")


@dataclass(frozen=True)
class ImageBuild:
    variant: str
    platform: str
    target: str
    request: BuildRequest
    tags: tuple[str, ...]
    record: ImageRecord

    @property
    def version_json_path(self) -> Path:
        return meta_path(self.request.context, self.variant, self.platform)


@dataclass(frozen=True)
class BuildPlan:
    version: BuildVersion
    commit: CommitFacts
    source: SourceTree
    context: Path
    builds: tuple[ImageBuild, ...]

    def commands(self, docker_cli: str) -> list[str]:
        return [shlex.join(build.request.argv(docker_cli)) for build in self.builds]

    def rows(self) -> list[list[str]]:
        return [
            [
                b.variant,
                b.platform,
                b.target,
                b.record.base_profile,
                b.request.build_args["RUNTIME_BASE"],
                "\n".join(b.tags),
            ]
            for b in self.builds
        ]


def image_repository(registry: str, repo: str) -> str:
    return f"{registry.rstrip('/')}/{repo}" if registry else repo


def image_tags(
    repository: str, variant: str, target: str, version: BuildVersion, platform_suffix: str = ""
) -> tuple[str, str]:
    """The versioned tag and the moving `latest` tag of one image."""
    flavour = variant if target == "runtime" else f"{variant}-{target}"
    return (
        f"{repository}:{flavour}-{version}{platform_suffix}",
        f"{repository}:latest-{flavour}{platform_suffix}",
    )


def meta_path(context: Path, variant: str, platform: str) -> Path:
    return context / "meta" / variant / platform.replace("/", "-") / "version.json"


def make_plan(
    *,
    version: BuildVersion,
    commit: CommitFacts,
    pin: Pin,
    source: SourceTree,
    variants: list[Variant],
    bases: dict[str, ResolvedBases],
    platforms: list[str],
    repository: str,
    context: Path,
    source_url: str,
    no_cache: bool = False,
) -> BuildPlan:
    builds: list[ImageBuild] = []
    for variant in variants:
        chosen = bases[variant.name]
        for platform in platforms:
            suffix = "" if len(platforms) == 1 else "-" + platform.rsplit("/", 1)[-1]
            record = ImageRecord(
                version=version,
                commit=commit,
                variant=variant.name,
                platform=platform,
                triple=triple_for(platform),
                description=variant.description,
                source_url=source_url,
                base_profile=chosen.profile,
                build_base=chosen.build,
                runtime_base=chosen.runtime,
                toolchain=toolchain(variant, chosen.profile),
                toolkit_name=variant.toolkit.name,
                toolkit_version=toolkit_version(variant, chosen.profile),
                llama_tag=pin.tag,
                llama_commit=pin.commit,
                llama_build_number=pin.build_number,
                llama_source=source.origin,
            )
            build_args = {
                **variant.build_args,
                **(variant.offline.build_args if chosen.profile == "offline" else {}),
                "VARIANT": variant.name,
                "BUILD_BASE": chosen.build,
                "RUNTIME_BASE": chosen.runtime,
                "LLAMA_BUILD_NUMBER": str(pin.build_number),
                "LLAMA_BUILD_COMMIT": pin.short_commit,
                "VERSION_JSON": meta_path(context, variant.name, platform)
                .relative_to(context)
                .as_posix(),
            }
            if variant.driver_libraries:
                build_args["DRIVER_LIBRARIES"] = " ".join(variant.driver_libraries)
            for target in TARGETS:
                request = BuildRequest(
                    dockerfile=variant.dockerfile,
                    context=context,
                    target=target,
                    platform=platform,
                    build_args=build_args,
                    labels=record.labels(target),
                    no_cache=no_cache,
                )
                tags = image_tags(repository, variant.name, target, version, suffix)
                builds.append(ImageBuild(variant.name, platform, target, request, tags, record))
    return BuildPlan(
        version=version, commit=commit, source=source, context=context, builds=tuple(builds)
    )
