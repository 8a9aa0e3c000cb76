"""`publish-images`: push per platform by digest, merge into a manifest list, smoke-test the
published list, sign it and attach its SBOM (cosign), verify both, and only then move
`latest-*`. A `release.json` records what happened."""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from llama_images.adapters.engine import Engine
from llama_images.adapters.registry import OCI_INDEX_TYPE, Registry
from llama_images.building.plan import image_repository, image_tags, select_targets
from llama_images.commands.inventory import local_images
from llama_images.commands.multiarch import PlatformImage, index_document, platform_image
from llama_images.commands.supply_chain import Signing, signing_for
from llama_images.errors import ProjectError
from llama_images.model.metadata import VERSION_JSON_PATH, write_json_atomically
from llama_images.model.project import Project
from llama_images.model.reference import Repository
from llama_images.model.tags import ImageTag
from llama_images.model.version import BuildVersion
from llama_images.report import table

# all: push, then merge; push: only this host's platforms (a CI job per platform);
# merge: merge what the push jobs pushed, smoke-test, move latest.
PublishMode = Literal["all", "push", "merge"]
PUBLISH_MODES: tuple[str, ...] = get_args(PublishMode)
Status = Literal["pending", "pushed", "published", "failed"]
# A check of one published image (pulled by digest); raises ProjectError on failure.
SmokeCheck = Callable[[Engine, str, "ImageGroup"], None]


@dataclass(frozen=True)
class ImageGroup:
    """The local images of one variant and target, one per platform."""

    variant: str
    target: str
    images: dict[str, str]  # platform -> local image reference


@dataclass
class GroupResult:
    variant: str
    target: str
    status: Status = "pending"
    tag: str = ""
    latest: str = ""
    build_tag: str = ""  # <variant>[-<target>]-b<llama.cpp build>, moved with latest
    list_digest: str = ""
    platforms: dict[str, str] = field(default_factory=dict)  # platform -> digest
    error: str = ""
    # The verified signature and SBOM attestation of the index (Signing.verify's record).
    signature: dict[str, Any] = field(default_factory=dict)


def groups_for_version(
    engine: Engine, version: str, wanted: list[tuple[str, str]]
) -> list[ImageGroup]:
    """The local images of each wanted (variant, target) of a version, by platform."""
    grouped: dict[tuple[str, str], dict[str, str]] = {}
    for image in local_images(engine):
        key = (image.variant, image.target)
        if image.version == version and key in wanted and image.tags:
            grouped.setdefault(key, {})[image.platform] = image.tags[0]
    missing = [f"{v} {t}" for v, t in wanted if (v, t) not in grouped]
    if missing:
        variants = ",".join(sorted({v for v, _ in wanted}))
        targets = ",".join(dict.fromkeys(t for _, t in wanted))
        raise ProjectError(
            f"no local image of {', '.join(missing)} for version {version}: run "
            f"invoke build-local --variants {variants} --targets {targets} first"
        )
    return [ImageGroup(v, t, grouped[(v, t)]) for v, t in wanted]


def version_check(engine: Engine, ref: str, group: ImageGroup, version: str) -> None:
    """The published image carries version.json of this version and runs llama-server."""
    code, output = engine.run(ref, ["-c", f"cat {VERSION_JSON_PATH}"], entrypoint=["/bin/sh"])
    if code != 0:
        raise ProjectError(f"{ref}: {VERSION_JSON_PATH} unreadable: {output.strip()[-200:]}")
    document = json.loads(output)
    if document.get("version") != version or document.get("variant") != group.variant:
        raise ProjectError(
            f"{ref}: version.json names {document.get('version')} "
            f"{document.get('variant')}, expected {version} {group.variant}"
        )
    server = document["server"]
    code, output = engine.run(
        ref, ["-c", f"{server} --version 2>&1"], entrypoint=["/bin/sh"], user="65534:65534"
    )
    if code != 0:
        raise ProjectError(f"{ref}: {server} --version failed: {output.strip()[-200:]}")


def publish_groups(
    engine: Engine,
    registry: Registry,
    repository: str,
    version: BuildVersion,
    groups: list[ImageGroup],
    smoke: SmokeCheck | None = None,
    results: list[GroupResult] | None = None,
    mode: PublishMode = "all",
    llama_build: int | None = None,
    *,
    signing: Signing | None,
) -> list[GroupResult]:
    """Publishes each group; a failure stops there, leaving its `latest` tag untouched.

    mode "push" only pushes each platform (a CI job per platform does that); "merge"
    finds the platforms already pushed, then merges, smoke-tests, signs and moves `latest`;
    "all" does both. Results are appended to `results` as they happen, so a caller
    keeps them on failure. With `llama_build`, the tag naming that llama.cpp build moves
    together with `latest`. `signing` signs the index and attests its SBOM, and both must
    verify before any tag moves; None, publishing unsigned, is never a default.
    """
    target_repository = Repository.in_registry(repository)
    name = target_repository.name
    results = [] if results is None else results
    for group in groups:
        versioned = ImageTag(group.variant, group.target, version)
        latest = target_repository.at(versioned.latest())
        moving = [versioned.latest()]
        if llama_build is not None:
            moving.append(versioned.of_build(llama_build))
        result = GroupResult(
            group.variant,
            group.target,
            tag=target_repository.at(versioned),
            latest=latest,
            build_tag=target_repository.at(moving[-1]) if llama_build is not None else "",
        )
        results.append(result)
        step = "push"
        platform = ""
        try:
            images: list[PlatformImage] = []
            for platform, local in sorted(group.images.items()):
                # Where a platform's image waits for the merge: `<tag>-<arch>`.
                staging = versioned.on(platform)
                if mode != "merge":
                    staging_ref = target_repository.at(staging)
                    engine.tag(local, staging_ref)
                    try:
                        engine.push(staging_ref, auth=registry.engine_auth())
                    finally:
                        engine.untag(staging_ref)
                image = platform_image(registry, name, str(staging), platform)
                images.append(image)
                result.platforms[platform] = image.digest
            if mode == "push":
                result.status = "pushed"
                continue
            step, platform = "index", ""
            result.list_digest = registry.put_manifest(
                name, str(versioned), index_document(images), OCI_INDEX_TYPE
            )
            step = "smoke test"
            pinned = f"{target_repository}@{result.list_digest}"
            engine.pull(pinned, auth=registry.engine_auth())
            sbom = ""
            seconds: dict[str, float] = {}
            try:
                version_check(engine, pinned, group, str(version))
                if smoke is not None:
                    smoke(engine, pinned, group)
                if signing is not None:
                    step, started = "sbom", time.monotonic()
                    sbom = signing.sbom(
                        engine, pinned, tag=result.tag, platform_digests=result.platforms
                    )
                    seconds[step] = round(time.monotonic() - started, 2)
            finally:
                engine.untag(pinned)
            if signing is not None:
                step, started = "sign", time.monotonic()
                signing.sign(pinned, sbom)
                seconds[step] = round(time.monotonic() - started, 2)
                step, started = "verify", time.monotonic()
                verified = signing.verify(pinned, sbom)
                seconds[step] = round(time.monotonic() - started, 2)
                result.signature = {**verified, "seconds": seconds}
            else:
                result.signature = {"mode": "none"}
            step = "latest"
            for tag in moving:
                registry.copy_tag(name, str(versioned), str(tag))
            result.status = "published"
        except ProjectError as exc:
            where = f" ({platform})" if platform else ""
            result.status = "failed"
            result.error = f"{step}{where}: {exc.message}"
            raise ProjectError(
                f"publishing {group.variant} {group.target} failed at {step}{where}: "
                f"{exc.message}; {latest} was not moved"
            ) from None
    return results


def write_release_record(
    path: Path, version: BuildVersion, commit: str, results: list[GroupResult]
) -> None:
    document: dict[str, Any] = {
        "version": str(version),
        "tag": version.tag,
        "commit": commit,
        "variants": {},
    }
    for r in results:
        document["variants"].setdefault(r.variant, {})[r.target] = {
            "status": r.status,
            "tag": r.tag,
            "latest": r.latest,
            "build_tag": r.build_tag,
            "manifest_list": r.list_digest,
            "platforms": r.platforms,
            "signature": r.signature,
            "error": r.error,
        }
    write_json_atomically(path, document)


def publish_mode(text: str) -> PublishMode:
    """A publish mode from its name; anything else is one line naming the closest."""
    for mode in get_args(PublishMode):
        if text == mode:
            return mode  # type: ignore[no-any-return]
    closest = difflib.get_close_matches(text, PUBLISH_MODES, n=1)
    hint = f" (did you mean {closest[0]}?)" if closest else ""
    raise ProjectError(
        f"unknown publish mode {text!r}: choose one of {', '.join(PUBLISH_MODES)}{hint}"
    )


def publish(project: Project, *, dry_run: bool, mode: PublishMode = "all") -> list[GroupResult]:
    settings = project.settings
    if not settings.registry:
        raise ProjectError("no registry to publish to: set LLAMA_IMAGES_REGISTRY or --registry")
    version = project.version()
    repository = image_repository(settings.registry, settings.repo)
    # What to publish is read from files alone: a mistyped variant or target is named
    # before any registry is asked.
    wanted = [
        (variant.name, target)
        for variant in project.catalog().select(list(settings.variants))
        for target in select_targets([variant], list(settings.targets))
    ]
    # The registry and the login are checked next, dry run included: nothing else is
    # worth doing when they fail.
    registry = Registry(Repository.in_registry(repository).host)
    registry.ping()
    # So is the signing (cosign present, the key opens), except for a push-only job.
    signing = None if mode == "push" else signing_for(settings, project.pin(), str(version))
    signed = "" if mode == "push" else f", signed: {signing.mode if signing else 'none'}"
    engine = Engine.connect(settings.docker, log_dir=settings.cache_path)
    if mode == "merge":
        # The platforms were pushed by other jobs: merge what the catalog promises.
        groups = [ImageGroup(v, t, {p: "" for p in settings.platforms}) for v, t in wanted]
    else:
        groups = groups_for_version(engine, str(version), wanted)
    llama_build = project.pin().build_number
    if dry_run:
        print(
            table(
                ["variant", "target", "platforms", "tags"],
                [
                    [
                        g.variant,
                        g.target,
                        ", ".join(sorted(g.images)),
                        "\n".join(
                            [
                                *image_tags(repository, g.variant, g.target, version),
                                f"{repository}:"
                                f"{ImageTag(g.variant, g.target).of_build(llama_build)}",
                            ]
                        ),
                    ]
                    for g in groups
                ],
                title=f"would publish {version}{signed}",
            )
        )
        return []
    results: list[GroupResult] = []
    record = Path(settings.results_dir) / f"release-{version}.json"
    if not record.is_absolute():
        record = project.root / record
    try:
        publish_groups(
            engine,
            registry,
            repository,
            version,
            groups,
            results=results,
            mode=mode,
            llama_build=llama_build,
            signing=signing,
        )
    finally:
        write_release_record(record, version, project.commit().sha, results)
        # stdout: on failure, stderr holds the one line that says why.
        print(f"release record: {record}")
    return results
