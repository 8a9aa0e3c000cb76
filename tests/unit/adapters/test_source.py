from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from llama_images.adapters.source import (
    Pin,
    ProofFailed,
    SourceSpec,
    fetch_source,
    load_pin,
    sha256_of,
)
from llama_images.errors import ProjectError
from tests.unit.conftest import MINIMAL_UI, REPO_ROOT


def fake_sdist(path: Path) -> Path:
    """A tarball shaped like llama-cpp-python's sdist, with a tiny llama.cpp tree."""
    files = {
        "pkg-1.0/vendor/llama.cpp/CMakeLists.txt": b"project(llama)\n",
        "pkg-1.0/vendor/llama.cpp/tools/server/server.cpp": b"int main() {}\n",
        **{f"pkg-1.0/vendor/llama.cpp/tools/ui/{name}": data for name, data in MINIMAL_UI.items()},
        "pkg-1.0/setup.py": b"",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def archive_pin(archive: Path, sha256: str) -> Pin:
    spec = SourceSpec(kind="archive", path=str(archive), subdir="vendor/llama.cpp", sha256=sha256)
    return Pin(tag="b1", commit="f" * 40, build_number=1, sources=(spec,))


def test_the_committed_pin() -> None:
    pin = load_pin(REPO_ROOT / ".devops")
    assert pin.tag == "b10454"
    assert pin.commit == "4df29be4f4c3673f428170fda944a5b19f743bb8"
    assert [s.kind for s in pin.sources] == ["git", "pypi-sdist"]
    assert pin.sources[1].sha256 == (
        "1139dbb54509074b70893fab8554e3b079aa9f4d312058ce4018ef0019e3de12"
    )


def test_verified_archive_is_extracted_once_and_reused(tmp_path: Path) -> None:
    archive = fake_sdist(tmp_path / "pkg-1.0.tar.gz")
    pin = archive_pin(archive, sha256_of(archive))
    tree = fetch_source(pin, tmp_path / "cache")
    assert (tree.path / "tools" / "server" / "server.cpp").is_file()
    assert not (tree.path / "setup.py").exists()
    assert tree.proof.startswith("sha256 ")
    archive.unlink()  # a second fetch must not need the archive
    assert fetch_source(pin, tmp_path / "cache").path == tree.path


def test_checksum_mismatch_stops_before_anything(tmp_path: Path) -> None:
    archive = fake_sdist(tmp_path / "pkg-1.0.tar.gz")
    with pytest.raises(ProofFailed, match=r"source checksum mismatch .* the pin says 000"):
        fetch_source(archive_pin(archive, "0" * 64), tmp_path / "cache")
    assert list((tmp_path / "cache" / "sources").iterdir()) == []


def test_unreachable_sources_are_all_named(tmp_path: Path) -> None:
    pin = Pin(
        tag="b1",
        commit="f" * 40,
        build_number=1,
        sources=(
            SourceSpec(kind="archive", path=str(tmp_path / "absent.tar.gz"), sha256="0" * 64),
        ),
    )
    with pytest.raises(ProjectError, match=r"no source of llama.cpp could be fetched: .*absent"):
        fetch_source(pin, tmp_path / "cache")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_cache_non_root(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o500)
    with pytest.raises(ProjectError, match=r"is not writable"):
        fetch_source(archive_pin(tmp_path / "x.tar.gz", "0" * 64), cache)


def test_unwritable_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ProjectError, match=r"cache folder .* is not writable"):
        fetch_source(archive_pin(tmp_path / "x.tar.gz", "0" * 64), blocker / "cache")


def test_local_override_must_be_a_llama_tree(tmp_path: Path) -> None:
    pin = load_pin(REPO_ROOT / ".devops")
    with pytest.raises(ProjectError, match=r"is not a llama.cpp source tree"):
        fetch_source(pin, tmp_path / "cache", override=str(tmp_path))


def test_malformed_pin(tmp_path: Path) -> None:
    (tmp_path / "pin.toml").write_text('[llama_cpp]\ntag = "b2"\n')
    with pytest.raises(ProjectError, match=r"upstream pin .* is malformed"):
        load_pin(tmp_path)


def test_pin_names_a_pypi_release(tmp_path: Path) -> None:
    pin = (REPO_ROOT / ".devops" / "pin.toml").read_text()
    (tmp_path / "pin.toml").write_text(pin.replace('version = "0.3.35"', 'version = "latest"'))
    with pytest.raises(ProjectError) as raised:
        load_pin(tmp_path)
    assert "llama-cpp-python version 'latest' is not a PyPI (PEP 440) version" in str(raised.value)
