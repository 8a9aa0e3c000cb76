"""PyPI on the host: fetches a pinned wheel once into the cache, checked by its sha256.

A recipe whose toolkit is a wheel (OpenVINO's) builds from a copy staged in the build
context: build containers may not reach PyPI (a network's TLS interception CA is trusted by
the host only), so the host fetches it, through its own trust store.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import httpx

from llama_images.adapters.source import ProofFailed, sha256_of
from llama_images.errors import ProjectError

INDEX = "https://pypi.org/simple"
# PEP 691: the simple index as JSON, with every file's URL and hashes.
INDEX_FORMAT = "application/vnd.pypi.simple.v1+json"
TIMEOUT = httpx.Timeout(60.0, read=300.0)


def pinned_wheel(project: str, file: str, sha256: str, cache: Path, index: str = INDEX) -> Path:
    """The wheel in the cache (`<cache>/pypi/<file>`), fetched once from the `index` (a
    simple repository API); checked on every call."""
    path = cache / "pypi" / file
    if path.is_file():
        actual = sha256_of(path)
        if actual != sha256:
            raise ProofFailed(
                f"cached {path} has sha256 {actual}, the catalog pins {sha256}: "
                f"remove it to fetch it again; nothing was built"
            )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with httpx.Client(verify=ssl.create_default_context(), timeout=TIMEOUT) as client:
        url = _file_url(client, f"{index}/{project}/", file, sha256)
        _download(client, url, path, sha256)
    return path


def _file_url(client: httpx.Client, index: str, file: str, sha256: str) -> str:
    """The file's URL in a project's index, once the index publishes the pinned sha256 for it."""
    try:
        response = client.get(index, headers={"Accept": INDEX_FORMAT})
        response.raise_for_status()
        files = response.json()["files"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ProjectError(f"cannot read the package index {index}: {exc}") from None
    if not isinstance(files, list):
        raise ProjectError(f"the package index {index} lists no files")
    entry = next((f for f in files if isinstance(f, dict) and f.get("filename") == file), None)
    if entry is None:
        raise ProjectError(f"the package index {index} has no file {file}")
    published = entry.get("hashes", {}).get("sha256")
    if published != sha256:
        raise ProofFailed(
            f"{index} publishes sha256 {published} for {file}, the catalog pins {sha256}; "
            "nothing was built"
        )
    return urljoin(index, str(entry["url"]))


def _download(client: httpx.Client, url: str, path: Path, sha256: str) -> None:
    """Downloads to a temporary file beside `path`, which takes its place once it matches."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    part = Path(name)
    try:
        with os.fdopen(handle, "wb") as out, client.stream("GET", url) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
        actual = sha256_of(part)
        if actual != sha256:
            raise ProofFailed(
                f"{url} has sha256 {actual}, the catalog pins {sha256}; nothing was built"
            )
        part.chmod(0o644)  # mkstemp makes it 0600
        part.replace(path)
    except httpx.HTTPError as exc:
        raise ProjectError(f"download of {url} failed: {exc}") from None
    finally:
        part.unlink(missing_ok=True)
