"""What exists: git facts, release tags, local images; and cleaning them up."""

from __future__ import annotations

from dataclasses import dataclass

from llama_images.adapters import gitinfo
from llama_images.adapters.engine import Engine, ImageInUse
from llama_images.adapters.registry import Registry
from llama_images.building.plan import image_repository
from llama_images.errors import ProjectError
from llama_images.model.metadata import OCI, project_label
from llama_images.model.project import Project
from llama_images.model.reference import Repository
from llama_images.model.tags import ImageTag
from llama_images.model.version import TAG_PREFIX, BuildVersion, rfc3339
from llama_images.report import table


def git_info_table(project: Project) -> str:
    commit = project.commit()
    version = project.version()
    pin = project.pin()
    rows = [
        ["commit", commit.sha],
        ["commit time (epoch)", str(commit.timestamp)],
        ["commit time (RFC 3339)", rfc3339(commit.timestamp)],
        ["version", str(version)],
        ["release tag", version.tag],
        ["branch", commit.branch or "(detached HEAD)"],
        ["dirty", str(commit.dirty).lower()],
        ["llama.cpp tag", pin.tag],
        ["llama.cpp commit", pin.commit],
    ]
    return table(["fact", "value"], rows)


@dataclass(frozen=True)
class LocalImage:
    image_id: str
    tags: tuple[str, ...]
    version: str
    variant: str
    target: str
    platform: str


def local_images(engine: Engine) -> list[LocalImage]:
    found = []
    for image_id, tags in engine.images_with_label(project_label("variant")):
        labels = engine.image_labels(image_id)
        found.append(
            LocalImage(
                image_id=image_id,
                tags=tuple(tags),
                version=labels.get(f"{OCI}.version", ""),
                variant=labels.get(project_label("variant"), ""),
                target=labels.get(project_label("target"), ""),
                platform=labels.get(project_label("platform"), ""),
            )
        )
    return sorted(found, key=lambda i: (i.version, i.variant, i.target))


def release_versions(project: Project) -> list[BuildVersion]:
    versions = []
    for tag in gitinfo.tags_matching(project.root, f"{TAG_PREFIX}*"):
        try:
            versions.append(BuildVersion.from_tag(tag))
        except ProjectError:
            continue
    return sorted(versions)


def version_status_table(project: Project, engine: Engine | None) -> str:
    current = project.version()
    releases = release_versions(project)
    newest = releases[-1] if releases else None
    rows: list[list[str]] = [
        ["HEAD would produce", str(current), "", ""],
        [
            "newest release tag",
            newest.tag if newest else "(none)",
            "",
            "" if newest is None or newest == current else "HEAD is not released",
        ],
    ]
    if engine is None:
        rows.append(["local images", "(no engine answers)", "", ""])
    else:
        for image in local_images(engine):
            stale = "" if image.version == str(current) else "stale"
            rows.append(
                [
                    f"local {image.variant} {image.target}",
                    image.version,
                    ", ".join(image.tags) or "(untagged)",
                    stale,
                ]
            )
    if project.settings.registry:
        rows += registry_rows(project, current)
    return table(["what", "version", "tags", "status"], rows)


def registry_rows(project: Project, current: BuildVersion) -> list[list[str]]:
    """The newest version of each variant in the configured registry."""
    repository = Repository.in_registry(
        image_repository(project.settings.registry, project.settings.repo)
    )
    try:
        tags = Registry(repository.host).tags(repository.name)
    except ProjectError as exc:
        return [["registry", f"({exc.message})", "", ""]]
    newest = newest_versioned_tags(tags)
    if not newest:
        return [["registry", "(no versioned image)", str(repository), ""]]
    return [
        [
            f"registry {flavour}",
            str(tag.version),
            repository.at(tag),
            "" if tag.version == current else "stale",
        ]
        for flavour, tag in sorted(newest.items())
    ]


def newest_versioned_tags(tags: list[str]) -> dict[str, ImageTag]:
    """Per flavour, the tag of its newest version; `latest-*` and per-platform tags are skipped."""
    newest: dict[str, ImageTag] = {}
    for text in tags:
        try:
            tag = ImageTag.parse(text)
        except ProjectError:
            continue  # not an image of this project
        if tag.version is None or tag.arch:
            continue
        known = newest.get(tag.flavour)
        if known is None or (known.version is not None and tag.version > known.version):
            newest[tag.flavour] = tag
    return newest


def clean_local_images(
    engine: Engine, *, keep_version: str | None, dry_run: bool
) -> tuple[list[str], list[str]]:
    """Removes the images this project built (all, or all but one version).

    Returns what was removed and, for what the engine keeps (an image other images were
    built FROM), the reference and the engine's reason.
    """
    removed: list[str] = []
    kept: list[str] = []
    for image in local_images(engine):
        if keep_version is not None and image.version == keep_version:
            continue
        for ref in list(image.tags) or [image.image_id]:
            try:
                if not dry_run:
                    engine.remove_image(ref)
            except ImageInUse as exc:
                kept.append(f"{ref}: {exc.message}")
                continue
            removed.append(ref)
    return removed, kept


def clean_local_images_report(project: Project, dry_run: bool, keep_current: bool) -> str:
    """`clean-local-images`: removes (or lists) this project's images; one line each."""
    engine = Engine.connect(project.settings.docker, start=False)
    keep = str(project.version()) if keep_current else None
    removed, kept = clean_local_images(engine, keep_version=keep, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {ref}" for ref in removed] + [f"kept {note}" for note in kept]
    return "\n".join(lines) or "no project image to remove"
