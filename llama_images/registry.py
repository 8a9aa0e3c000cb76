"""The only code that talks to a registry's HTTP API (OCI distribution): manifests and tags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from llama_images.errors import ProjectError

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (LIST_TYPE, "application/vnd.oci.image.index.v1+json")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class PlatformManifest:
    descriptor: Descriptor
    platform: str  # e.g. linux/amd64


def split_reference(reference: str) -> tuple[str, str, str]:
    """'host:5000/repo/name:tag' -> ('host:5000', 'repo/name', 'tag')."""
    host, _, rest = reference.partition("/")
    if not rest or ("." not in host and ":" not in host and host != "localhost"):
        raise ProjectError(f"{reference} names no registry host: set LLAMA_IMAGES_REGISTRY")
    name, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return host, name, tag


class Registry:
    """A registry reached over HTTP for loopback hosts, HTTPS otherwise."""

    def __init__(self, host: str, timeout: float = 60.0) -> None:
        self.host = host
        loopback = host.split(":")[0] in ("localhost", "127.0.0.1", "[::1]")
        scheme = "http" if loopback else "https"
        self.client = httpx.Client(base_url=f"{scheme}://{host}/v2/", timeout=timeout)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProjectError(f"registry {self.host} cannot be reached: {exc}") from None

    def ping(self) -> None:
        response = self._request("GET", "")
        if response.status_code not in (200, 401):
            raise ProjectError(
                f"{self.host} is not a registry (GET /v2/ gave {response.status_code})"
            )

    def manifest(self, name: str, reference: str) -> tuple[Descriptor, dict[str, Any]] | None:
        """The manifest a tag or digest names, or None when there is none."""
        accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
        response = self._request("GET", f"{name}/manifests/{reference}", headers={"Accept": accept})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProjectError(
                f"registry {self.host}: manifest {name}:{reference} gave {response.status_code}"
            )
        body = response.content
        descriptor = Descriptor(
            media_type=response.headers.get("Content-Type", "").split(";")[0],
            digest=response.headers.get("Docker-Content-Digest", ""),
            size=len(body),
        )
        document: dict[str, Any] = json.loads(body)
        return descriptor, document

    def put_manifest_list(self, name: str, tag: str, manifests: list[PlatformManifest]) -> str:
        """Stores a manifest list naming one manifest per platform; returns its digest."""
        document = {
            "schemaVersion": 2,
            "mediaType": LIST_TYPE,
            "manifests": [
                {
                    "mediaType": m.descriptor.media_type,
                    "digest": m.descriptor.digest,
                    "size": m.descriptor.size,
                    "platform": {
                        "os": m.platform.split("/")[0],
                        "architecture": m.platform.split("/")[1],
                    },
                }
                for m in manifests
            ],
        }
        return self.put_manifest(name, tag, json.dumps(document).encode(), LIST_TYPE)

    def put_manifest(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        response = self._request(
            "PUT", f"{name}/manifests/{tag}", content=body, headers={"Content-Type": media_type}
        )
        if response.status_code not in (200, 201):
            raise ProjectError(
                f"registry {self.host} refused manifest {name}:{tag}: "
                f"{response.status_code} {response.text[:200]}"
            )
        return str(response.headers.get("Docker-Content-Digest", ""))

    def copy_tag(self, name: str, source: str, tag: str) -> str:
        """Points `tag` at the manifest `source` names, byte for byte."""
        response = self._request(
            "GET",
            f"{name}/manifests/{source}",
            headers={"Accept": ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))},
        )
        if response.status_code != 200:
            raise ProjectError(f"registry {self.host}: {name}:{source} gave {response.status_code}")
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        return self.put_manifest(name, tag, response.content, media_type)

    def tags(self, name: str) -> list[str]:
        response = self._request("GET", f"{name}/tags/list")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise ProjectError(f"registry {self.host}: tags of {name} gave {response.status_code}")
        return [str(tag) for tag in response.json().get("tags") or []]
