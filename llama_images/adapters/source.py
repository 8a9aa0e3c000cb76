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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from llama_images.adapters import gitinfo
from llama_images.adapters.manifest import ALGORITHM, first_difference, tree_manifest
from llama_images.errors import ProjectError
from llama_images.model.metadata import write_json_atomically
from llama_images.paths import user_path

PIN_FILE = "pin.toml"
VERIFIED_MARKER = ".llama-images-source.json"
GIT_CLONE_TIMEOUT = 600.0
DOWNLOAD_TIMEOUT = 900.0


class ProofFailed(ProjectError):
    """A source was reached but is not the pinned one: stop, never fall back."""


class IncompleteCache(Exception):
    """A cache entry that cannot be trusted or read as a whole: it is fetched again."""


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
    # The verified manifest (path -> digest) of a cached tree; None for a user's own tree.
    files: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


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
    for source in pin.sources:
        if source.kind == "pypi-sdist":
            try:
                Version(source.version)
            except InvalidVersion:
                raise ProjectError(
                    f"upstream pin {path}: {source.package} version {source.version!r} is not "
                    "a PyPI (PEP 440) version: name a release, e.g. 0.3.35"
                ) from None
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
    archive = user_path(spec.path, "the pin's source archive")
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


@dataclass(frozen=True)
class SourceRecord:
    """What the verification of a cached tree found, written into the tree after unpacking."""

    origin: str
    proof: str
    files: dict[str, str]

    def document(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "proof": self.proof,
            "algorithm": ALGORITHM,
            "files": self.files,
        }


def read_record(tree: Path) -> SourceRecord:
    """The record of a cached tree; IncompleteCache when it is absent, partial or older."""
    marker = tree / VERIFIED_MARKER
    try:
        document = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IncompleteCache("has no verification record (an interrupted fetch)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise IncompleteCache(f"has an unreadable {VERIFIED_MARKER}") from None
    if not isinstance(document, dict):
        raise IncompleteCache(f"has a malformed {VERIFIED_MARKER}")
    if "files" not in document:
        raise IncompleteCache("has no manifest of its files (cached by an older version)")
    files, origin, proof = document["files"], document.get("origin"), document.get("proof")
    if (
        document.get("algorithm") != ALGORITHM
        or not isinstance(files, dict)
        or not all(isinstance(v, str) for v in files.values())
        or not isinstance(origin, str)
        or not isinstance(proof, str)
    ):
        raise IncompleteCache(f"has a malformed {VERIFIED_MARKER}")
    return SourceRecord(origin=origin, proof=proof, files=files)


def check_cached_tree(tree: Path, record: SourceRecord) -> SourceTree:
    """The cached tree, once every file is proven to hold what was verified at fetch time."""
    difference = first_difference(record.files, tree_manifest(tree, exclude={VERIFIED_MARKER}))
    if difference is not None:
        raise ProjectError(
            f"cached llama.cpp source {tree} no longer matches what was verified: {difference}; "
            f"remove {tree} to fetch it again"
        )
    proof = f"{record.proof}; all {len(record.files)} files match"
    return SourceTree(path=tree, origin=record.origin, proof=proof, files=record.files)


def _cached_source(final: Path) -> SourceTree | str | None:
    """The verified cached tree; else why the cached entry must be fetched again, or None
    when there is none."""
    if not final.exists():
        return None
    try:
        record = read_record(final)
    except IncompleteCache as exc:
        return f"cached llama.cpp source {final} {exc}"
    return check_cached_tree(final, record)


def _install(tree: Path, final: Path, origin: str, proof: str) -> SourceTree:
    """Records the unpacked tree's manifest, then moves the tree to its place in one rename."""
    record = SourceRecord(origin, proof, tree_manifest(tree, exclude={VERIFIED_MARKER}))
    write_json_atomically(tree / VERIFIED_MARKER, record.document())
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    elif final.exists() or final.is_symlink():
        final.unlink()
    tree.rename(final)
    return SourceTree(path=final, origin=origin, proof=proof, files=record.files)


def fetch_source(pin: Pin, cache: Path, override: str = "") -> SourceTree:
    """The pinned llama.cpp tree: a local override, the verified cache, or a fresh fetch.

    A cached tree is compared with the manifest written when it was unpacked, every time.
    """
    if override:
        local = user_path(override, "LLAMA_IMAGES_SOURCE_PATH").resolve()
        if not local.is_dir():
            raise ProjectError(
                f"LLAMA_IMAGES_SOURCE_PATH {local} does not exist: point it at a llama.cpp "
                "checkout, or unset it to build the pinned source"
            )
        if not is_llama_tree(local):
            raise ProjectError(f"{local} is not a llama.cpp source tree (no tools/server)")
        return SourceTree(path=local, origin=f"local {local}", proof="local override, unverified")
    sources = _prepare_cache(cache)
    final = sources / pin.commit
    cached = _cached_source(final)
    if isinstance(cached, SourceTree):
        return cached
    # Said once the outcome is known: with it, a failed fetch is still one line.
    stale = cached or ""
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
            installed = _install(tree, final, spec.describe(), proof)
            if stale:
                print(f"==> {stale}: fetched it again", file=sys.stderr)
            return installed
    cause = f"{stale}, and " if stale else ""
    raise ProjectError(f"{cause}no source of llama.cpp could be fetched: " + "; ".join(failures))
