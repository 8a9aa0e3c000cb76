"""A loopback registry logged into as `docker login` leaves it, and images pushed the way
BuildKit pushes them."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_images.adapters.registry import (
    ATTESTATION,
    OCI_INDEX_TYPE,
    REFERENCE_DIGEST,
    REFERENCE_TYPE,
    Credentials,
    Registry,
)
from llama_images.testing.localregistry import LocalRegistry, RegistryAuth, local_registry

NAME = "llama.cpp"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def serve(
    tmp_path: Path, auth: RegistryAuth, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalRegistry]:
    """A registry, and a Docker configuration logged into it (as `docker login` leaves one)."""
    with local_registry(tmp_path / "registry", auth=auth) as server:
        docker_config = tmp_path / "docker-config"
        server.login(docker_config)
        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
        yield server


def latest_digest(server: LocalRegistry) -> str | None:
    found = Registry(server.host, Credentials(server.username, server.password)).manifest(
        NAME, "latest-cpu"
    )
    return None if found is None else found[0].digest


def _tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _descriptor(media_type: str, digest: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}


def push_as_buildkit_does(
    registry: Registry, tag: str, labels: dict[str, str], architecture: str
) -> tuple[str, str]:
    """Pushes a one-layer image as Docker 29 and buildx do: an OCI index holding the image
    manifest and a provenance attestation manifest. Returns (image digest, attestation digest)."""
    layer = _tar_of({"app/README": f"{architecture} stand-in for the merge test\n".encode()})
    layer_digest = registry.put_blob(NAME, layer)
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    image = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(
                "application/vnd.oci.image.config.v1+json", registry.put_blob(NAME, config), config
            ),
            "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar", layer_digest, layer)],
        }
    ).encode()
    image_digest = registry.put_manifest(NAME, f"{tag}-image", image, OCI_MANIFEST)
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
        }
    ).encode()
    empty = b"{}"
    attestation = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(
                "application/vnd.oci.image.config.v1+json", registry.put_blob(NAME, empty), empty
            ),
            "layers": [
                _descriptor(
                    "application/vnd.in-toto+json",
                    registry.put_blob(NAME, statement),
                    statement,
                    annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
                )
            ],
        }
    ).encode()
    attestation_digest = registry.put_manifest(NAME, f"{tag}-att", attestation, OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX_TYPE,
            "manifests": [
                _descriptor(
                    OCI_MANIFEST,
                    image_digest,
                    image,
                    platform={"architecture": architecture, "os": "linux"},
                ),
                _descriptor(
                    OCI_MANIFEST,
                    attestation_digest,
                    attestation,
                    platform={"architecture": "unknown", "os": "unknown"},
                    annotations={REFERENCE_DIGEST: image_digest, REFERENCE_TYPE: ATTESTATION},
                ),
            ],
        }
    ).encode()
    registry.put_manifest(NAME, tag, index, OCI_INDEX_TYPE)
    return image_digest, attestation_digest
