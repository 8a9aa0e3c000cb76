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


def cached_as_pinned(path: Path, sha256: str, pinned_by: str) -> bool:
    """Whether the cache has `path`; a cached file with another digest stops everything."""
    if not path.is_file():
        return False
    actual = sha256_of(path)
    if actual != sha256:
        raise ProofFailed(
            f"cached {path} has sha256 {actual}, {pinned_by} {sha256}: "
            "remove it to fetch it again; nothing was built"
        )
    return True


def pinned_wheel(project: str, file: str, sha256: str, cache: Path, index: str = INDEX) -> Path:
    """The wheel in the cache (`<cache>/pypi/<file>`), fetched once from the `index` (a
    simple repository API); checked on every call."""
    path = cache / "pypi" / file
    if cached_as_pinned(path, sha256, "the catalog pins"):
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


# PyPI's JSON API: a project's releases, each file with its URL and sha256.
JSON_API = "https://pypi.org/pypi"


def release_sdist(project: str, version: str, cache: Path, api: str = JSON_API) -> tuple[Path, str]:
    """A release's source archive in the cache (`<cache>/pypi/<file>`) and its sha256, the
    one PyPI's JSON API publishes: fetched once, checked after the download and on every call."""
    url = f"{api}/{project}/json"
    with httpx.Client(verify=ssl.create_default_context(), timeout=TIMEOUT) as client:
        file, file_url, sha256 = _sdist_entry(client, url, project, version)
        path = cache / "pypi" / file
        if cached_as_pinned(path, sha256, "PyPI publishes"):
            return path, sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _download(client, file_url, path, sha256)
        except ProofFailed:
            raise ProofFailed(
                f"{file_url} does not have the sha256 {sha256} PyPI publishes for it; "
                "nothing was built"
            ) from None
    return path, sha256


def _sdist_entry(
    client: httpx.Client, url: str, project: str, version: str
) -> tuple[str, str, str]:
    """The file name, URL and sha256 of a release's sdist, as the JSON API at `url` lists it."""
    try:
        response = client.get(url)
        if response.status_code == 404:
            raise ProjectError(f"PyPI has no project {project}: check its name")
        response.raise_for_status()
        document = response.json()
        releases = document["releases"]
        newest = str(document["info"]["version"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ProjectError(f"cannot read PyPI's record of {project} at {url}: {exc}") from None
    files = releases.get(version) if isinstance(releases, dict) else None
    if not files:
        raise ProjectError(
            f"PyPI has no release {version} of {project}: name a released version "
            f"(the newest is {newest})"
        )
    sdist = next(
        (f for f in files if isinstance(f, dict) and f.get("packagetype") == "sdist"), None
    )
    if sdist is None:
        raise ProjectError(f"{project} {version} has no source archive on PyPI")
    try:
        return (
            str(sdist["filename"]),
            urljoin(url, str(sdist["url"])),
            str(sdist["digests"]["sha256"]),
        )
    except (KeyError, TypeError):
        raise ProjectError(
            f"PyPI's record of {project} {version} lacks the sdist's URL or sha256"
        ) from None
