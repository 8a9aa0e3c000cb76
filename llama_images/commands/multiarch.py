"""Multi-arch indexes: what each platform job pushed, merged into one OCI index.

A platform job pushes either a plain image manifest (a classic engine) or, as BuildKit and
Docker 29 with the containerd store do, an index holding the image manifest and attestation
manifests (provenance, SBOM) that point at it. The merge keeps each platform's image manifest
and its attestations, so the result reads like an upstream multi-arch image: one entry per
platform plus `unknown/unknown` attestation entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llama_images.adapters.registry import (
    ATTESTATION,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX_TYPE,
    REFERENCE_DIGEST,
    REFERENCE_TYPE,
    Registry,
)
from llama_images.errors import ProjectError

OCI_PREFIX = "org.opencontainers.image."
# Image labels repeated as index annotations, so registries show them on the tag's page.
INDEX_ANNOTATIONS = ("description", "source", "url", "version", "revision", "created", "title")


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image manifest entry, its attestations and its image config."""

    platform: str
    image: dict[str, Any]
    attestations: list[dict[str, Any]]
    config: dict[str, Any]

    @property
    def digest(self) -> str:
        return str(self.image["digest"])

    def entries(self) -> list[dict[str, Any]]:
        return [self.image, *self.attestations]


def platform_name(entry: dict[str, Any]) -> str:
    platform = entry.get("platform") or {}
    name = f"{platform.get('os', 'unknown')}/{platform.get('architecture', 'unknown')}"
    return f"{name}/{platform['variant']}" if platform.get("variant") else name


def _same_platform(found: str, wanted: str) -> bool:
    # linux/arm64 is written linux/arm64/v8 by some builders.
    return found == wanted or found.startswith(wanted + "/")


def _is_attestation_of(entry: dict[str, Any], digest: str) -> bool:
    notes = entry.get("annotations") or {}
    return bool(notes.get(REFERENCE_TYPE) == ATTESTATION and notes.get(REFERENCE_DIGEST) == digest)


def platform_image(registry: Registry, name: str, reference: str, platform: str) -> PlatformImage:
    """What `name:reference` holds for `platform`, checked against its image config."""
    found = registry.manifest(name, reference)
    if found is None:
        raise ProjectError(
            f"{registry.host}/{name}:{reference} is not in the registry: push it first"
        )
    descriptor, document = found
    if descriptor.media_type in MANIFEST_TYPES:
        image: dict[str, Any] = {
            "mediaType": descriptor.media_type,
            "digest": descriptor.digest,
            "size": descriptor.size,
        }
        attestations: list[dict[str, Any]] = []
        manifest = document
    elif descriptor.media_type in INDEX_TYPES:
        entries = document.get("manifests") or []
        images = [e for e in entries if _same_platform(platform_name(e), platform)]
        if len(images) != 1:
            held = ", ".join(sorted(platform_name(e) for e in entries)) or "nothing"
            raise ProjectError(
                f"{registry.host}/{name}:{reference} holds no single {platform} image "
                f"(it holds {held})"
            )
        image = dict(images[0])
        attestations = [e for e in entries if _is_attestation_of(e, image["digest"])]
        inner = registry.manifest(name, image["digest"])
        if inner is None:
            raise ProjectError(f"{registry.host}/{name}@{image['digest']} is missing")
        manifest = inner[1]
    else:
        raise ProjectError(
            f"{registry.host}/{name}:{reference} is a {descriptor.media_type or 'untyped'} "
            "document, not an image"
        )
    config = json.loads(registry.blob(name, manifest["config"]["digest"]))
    actual = f"{config.get('os')}/{config.get('architecture')}"
    if not _same_platform(platform, actual) and not _same_platform(actual, platform):
        raise ProjectError(
            f"{registry.host}/{name}:{reference} is a {actual} image, published as {platform}"
        )
    os_name, arch, *variant = platform.split("/")
    image["platform"] = {"os": os_name, "architecture": arch}
    if variant or config.get("variant"):
        image["platform"]["variant"] = variant[0] if variant else config["variant"]
    return PlatformImage(platform, image, attestations, config)


def index_annotations(image: PlatformImage) -> dict[str, str]:
    labels: dict[str, str] = (image.config.get("config") or {}).get("Labels") or {}
    notes = {OCI_PREFIX + key: labels.get(OCI_PREFIX + key, "") for key in INDEX_ANNOTATIONS}
    return {key: value for key, value in notes.items() if value}


def index_document(images: list[PlatformImage]) -> bytes:
    """One OCI index naming every platform's image and attestations, annotated from the first."""
    ordered = sorted(images, key=lambda i: i.platform)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX_TYPE,
        "manifests": [entry for image in ordered for entry in image.entries()],
        "annotations": index_annotations(ordered[0]),
    }
    return json.dumps(document, indent=2).encode()
