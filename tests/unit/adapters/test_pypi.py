"""The pinned-wheel fetch against a package index served on loopback: fetched once, checked
against the pinned sha256 at the index, after the download and on every later use; and a
release's sdist, found through PyPI's JSON API, checked against the sha256 it publishes."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llama_images.adapters.pypi import pinned_wheel, release_sdist
from llama_images.adapters.source import ProofFailed
from llama_images.errors import ProjectError

FILE = "toolkit-1.2.3-4-cp312-cp312-manylinux_2_28_x86_64.whl"
BODY = b"PK wheel bytes"
DIGEST = hashlib.sha256(BODY).hexdigest()


@dataclass
class Index:
    """What the loopback index serves, and the paths it was asked for."""

    url: str = ""
    body: bytes = BODY
    published: str = DIGEST
    requests: list[str] = field(default_factory=list)


@contextmanager
def loopback(routes: Callable[[str], bytes | None], requests: list[str]) -> Iterator[str]:
    """An HTTP server on loopback answering GETs with `routes(path)` (None: 404); its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = routes(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def index() -> Iterator[Index]:
    served = Index()

    def routes(path: str) -> bytes | None:
        if path == "/simple/toolkit/":
            entry = {
                "filename": FILE,
                "url": f"../../files/{FILE}",
                "hashes": {"sha256": served.published},
            }
            return json.dumps({"files": [entry]}).encode()
        return served.body if path == f"/files/{FILE}" else None

    with loopback(routes, served.requests) as url:
        served.url = f"{url}/simple"
        yield served


def test_fetched_once_then_read_from_the_cache(index: Index, tmp_path: Path) -> None:
    path = pinned_wheel("toolkit", FILE, DIGEST, tmp_path, index.url)
    assert path == tmp_path / "pypi" / FILE
    assert path.read_bytes() == BODY
    assert pinned_wheel("toolkit", FILE, DIGEST, tmp_path, index.url) == path
    assert index.requests == ["/simple/toolkit/", f"/files/{FILE}"]
    assert [p.name for p in path.parent.iterdir()] == [FILE]


def test_index_publishing_another_digest_is_refused(index: Index, tmp_path: Path) -> None:
    index.published = "0" * 64
    with pytest.raises(ProofFailed, match=f"publishes sha256 {'0' * 64} for {FILE}"):
        pinned_wheel("toolkit", FILE, DIGEST, tmp_path, index.url)
    assert index.requests == ["/simple/toolkit/"]


def test_download_not_matching_the_pin_is_refused(index: Index, tmp_path: Path) -> None:
    index.body = b"tampered"
    with pytest.raises(ProofFailed, match="nothing was built"):
        pinned_wheel("toolkit", FILE, DIGEST, tmp_path, index.url)
    assert list((tmp_path / "pypi").iterdir()) == []


def test_cached_wheel_is_checked_on_every_use(index: Index, tmp_path: Path) -> None:
    path = pinned_wheel("toolkit", FILE, DIGEST, tmp_path, index.url)
    path.write_bytes(b"changed since")
    with pytest.raises(ProofFailed, match="remove it to fetch it again"):
        pinned_wheel("toolkit", FILE, DIGEST, tmp_path, index.url)


def test_a_file_the_index_lacks_is_named(index: Index, tmp_path: Path) -> None:
    other = FILE.replace("cp312", "cp313")
    with pytest.raises(ProjectError, match=f"has no file {other}"):
        pinned_wheel("toolkit", other, DIGEST, tmp_path, index.url)


SDIST = "pkg-1.0.tar.gz"
SDIST_BODY = b"sdist bytes"


@dataclass
class JsonApi:
    """What the loopback JSON API serves, and the paths it was asked for."""

    url: str = ""
    body: bytes = SDIST_BODY
    published: str = hashlib.sha256(SDIST_BODY).hexdigest()
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def json_api() -> Iterator[JsonApi]:
    served = JsonApi()

    def routes(path: str) -> bytes | None:
        if path == "/pypi/pkg/json":
            wheel = {"packagetype": "bdist_wheel", "filename": "pkg-1.0-py3-none-any.whl"}
            sdist = {
                "packagetype": "sdist",
                "filename": SDIST,
                "url": f"../../packages/{SDIST}",  # as relative as a mirror may serve it
                "digests": {"sha256": served.published},
            }
            releases = {"0.9": [wheel], "1.0": [wheel, sdist]}
            return json.dumps({"info": {"version": "1.0"}, "releases": releases}).encode()
        return served.body if path == f"/packages/{SDIST}" else None

    with loopback(routes, served.requests) as url:
        served.url = f"{url}/pypi"
        yield served


def test_a_release_sdist_is_fetched_once_with_its_published_digest(
    json_api: JsonApi, tmp_path: Path
) -> None:
    path, sha256 = release_sdist("pkg", "1.0", tmp_path, json_api.url)
    assert (path, sha256) == (tmp_path / "pypi" / SDIST, json_api.published)
    assert path.read_bytes() == SDIST_BODY
    assert release_sdist("pkg", "1.0", tmp_path, json_api.url) == (path, sha256)
    assert json_api.requests == ["/pypi/pkg/json", f"/packages/{SDIST}", "/pypi/pkg/json"]


def test_a_release_sdist_not_matching_its_digest_is_refused(
    json_api: JsonApi, tmp_path: Path
) -> None:
    json_api.body = b"tampered"
    with pytest.raises(ProofFailed, match=r"does not have the sha256 \w+ PyPI publishes for it"):
        release_sdist("pkg", "1.0", tmp_path, json_api.url)
    assert list((tmp_path / "pypi").iterdir()) == []
    json_api.body = SDIST_BODY
    path, _ = release_sdist("pkg", "1.0", tmp_path, json_api.url)
    path.write_bytes(b"changed since")
    with pytest.raises(ProofFailed, match="remove it to fetch it again"):
        release_sdist("pkg", "1.0", tmp_path, json_api.url)


@pytest.mark.parametrize(
    ("project", "version", "cause"),
    [
        ("pkg", "2.0", r"no release 2\.0 of pkg: name a released version \(the newest is 1\.0\)"),
        ("pkg", "0.9", "pkg 0.9 has no source archive on PyPI"),
        ("other", "1.0", "PyPI has no project other"),
    ],
)
def test_a_release_pypi_lacks_is_named(
    json_api: JsonApi, tmp_path: Path, project: str, version: str, cause: str
) -> None:
    with pytest.raises(ProjectError, match=cause):
        release_sdist(project, version, tmp_path, json_api.url)
