"""The upstream pin: which llama.cpp is built, and fetching its source once, verified."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from llama_images import gitinfo
from llama_images.errors import ProjectError

PIN_FILE = "pin.toml"
VERIFIED_MARKER = ".llama-images-source.json"
GIT_CLONE_TIMEOUT = 600.0
DOWNLOAD_TIMEOUT = 900.0


class ProofFailed(ProjectError):
    """A source was reached but is not the pinned one: stop, never fall back."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "git", "pypi-sdist" or "archive" (a local .tar.gz with its sha256)
    url: str = ""
    path: str = ""
    package: str = ""
    version: str = ""
    subdir: str = ""
    sha256: str = ""

    def describe(self) -> str:
        if self.kind == "git":
            return f"git {self.url}"
        if self.kind == "archive":
            return f"archive {self.path}"
        return f"pypi-sdist {self.package}=={self.version}"


@dataclass(frozen=True)
class Pin:
    tag: str
    commit: str
    build_number: int
    sources: tuple[SourceSpec, ...] = field(default_factory=tuple)

    @property
    def short_commit(self) -> str:
        return self.commit[:7]


@dataclass(frozen=True)
class SourceTree:
    """A llama.cpp tree ready to build, and how it was proven to be the pinned one."""

    path: Path
    origin: str  # e.g. "pypi-sdist llama-cpp-python==0.3.35" or "local /path"
    proof: str


def load_pin(devops: Path) -> Pin:
    path = devops / PIN_FILE
    try:
        data = tomllib.loads(path.read_text())
        pinned = data["llama_cpp"]
        sources = tuple(SourceSpec(**entry) for entry in data["sources"])
        pin = Pin(
            tag=str(pinned["tag"]),
            commit=str(pinned["commit"]),
            build_number=int(pinned["build_number"]),
            sources=sources,
        )
    except FileNotFoundError:
        raise ProjectError(f"upstream pin {path} is missing") from None
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"upstream pin {path} is malformed: {exc}") from None
    if pin.tag != f"b{pin.build_number}":
        raise ProjectError(f"upstream pin {path}: tag {pin.tag} disagrees with build number")
    if not pin.sources:
        raise ProjectError(f"upstream pin {path} names no source")
    return pin


def is_llama_tree(path: Path) -> bool:
    return (path / "CMakeLists.txt").is_file() and (path / "tools" / "server").is_dir()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _prepare_cache(cache: Path) -> Path:
    sources = cache / "sources"
    try:
        sources.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=sources, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise ProjectError(
            f"cache folder {sources} is not writable ({exc.strerror}): "
            "set LLAMA_IMAGES_CACHE_DIR to a writable folder"
        ) from None
    return sources


def _fetch_git(spec: SourceSpec, pin: Pin, work: Path) -> tuple[Path, str]:
    checkout = work / "git"
    head = gitinfo.clone_tag(spec.url, pin.tag, checkout, timeout=GIT_CLONE_TIMEOUT)
    if head != pin.commit:
        raise ProofFailed(
            f"source check failed: {spec.url} tag {pin.tag} is at {head}, the pin says {pin.commit}"
        )
    shutil.rmtree(checkout / ".git")
    return checkout, f"HEAD {head} equals the pinned commit"


def _fetch_sdist(spec: SourceSpec, pin: Pin, work: Path) -> tuple[Path, str]:
    download = work / "download"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--dest",
            str(download),
            f"{spec.package}=={spec.version}",
        ],
        capture_output=True,
        text=True,
        timeout=DOWNLOAD_TIMEOUT,
        check=False,
    )
    archives = sorted(download.glob("*.tar.gz")) if download.is_dir() else []
    if done.returncode != 0 or len(archives) != 1:
        detail = (done.stderr.strip().splitlines() or ["no archive downloaded"])[-1]
        raise ProjectError(f"download of {spec.package}=={spec.version} failed: {detail}")
    return _verify_and_extract(archives[0], spec, work)


def _fetch_archive(spec: SourceSpec, pin: Pin, work: Path) -> tuple[Path, str]:
    archive = Path(spec.path).expanduser()
    if not archive.is_file():
        raise ProjectError(f"source archive {archive} does not exist")
    return _verify_and_extract(archive, spec, work)


def _verify_and_extract(archive: Path, spec: SourceSpec, work: Path) -> tuple[Path, str]:
    actual = sha256_of(archive)
    if actual != spec.sha256:
        raise ProofFailed(
            f"source checksum mismatch for {archive.name}: sha256 {actual}, "
            f"the pin says {spec.sha256}; nothing was built"
        )
    return _extract_subdir(archive, spec.subdir, work / "tree"), f"sha256 {actual} matches"


def _extract_subdir(archive: Path, subdir: str, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/")[0]
        prefix = f"{top}/{subdir}/" if subdir else f"{top}/"
        chosen = []
        for member in members:
            if member.name.startswith(prefix):
                member.name = member.name.removeprefix(prefix)
                chosen.append(member)
        if not chosen:
            raise ProjectError(f"{archive.name} has no {subdir}/ folder")
        tar.extractall(dest, members=chosen, filter="data")
    return dest


def fetch_source(pin: Pin, cache: Path, override: str = "") -> SourceTree:
    """The pinned llama.cpp tree: a local override, the verified cache, or a fresh fetch."""
    if override:
        local = Path(override).expanduser().resolve()
        if not is_llama_tree(local):
            raise ProjectError(f"{local} is not a llama.cpp source tree (no tools/server)")
        return SourceTree(path=local, origin=f"local {local}", proof="local override, unverified")
    sources = _prepare_cache(cache)
    final = sources / pin.commit
    marker = final / VERIFIED_MARKER
    if marker.is_file():
        record = json.loads(marker.read_text())
        return SourceTree(path=final, origin=record["origin"], proof=record["proof"])
    failures: list[str] = []
    for spec in pin.sources:
        with tempfile.TemporaryDirectory(dir=sources, prefix=".fetch-") as tmp:
            try:
                if spec.kind == "git":
                    tree, proof = _fetch_git(spec, pin, Path(tmp))
                elif spec.kind == "pypi-sdist":
                    tree, proof = _fetch_sdist(spec, pin, Path(tmp))
                elif spec.kind == "archive":
                    tree, proof = _fetch_archive(spec, pin, Path(tmp))
                else:
                    raise ProjectError(f"unknown source kind {spec.kind!r} in the pin")
            except ProofFailed:
                raise
            except ProjectError as exc:
                failures.append(exc.message)
                continue
            if not is_llama_tree(tree):
                raise ProjectError(f"{spec.describe()} did not yield a llama.cpp tree")
            (tree / VERIFIED_MARKER).write_text(
                json.dumps({"origin": spec.describe(), "proof": proof}, indent=2)
            )
            if final.exists():
                shutil.rmtree(final)
            tree.rename(final)
            return SourceTree(path=final, origin=spec.describe(), proof=proof)
    raise ProjectError("no source of llama.cpp could be fetched: " + "; ".join(failures))
