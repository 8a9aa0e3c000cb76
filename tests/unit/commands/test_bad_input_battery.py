"""Bad input, as a user gives it: each case runs `invoke` in a checkout of its own (tasks.py
and .devops copied, the code and recipes linked), with its own cache folder and no engine
reachable. Each must exit non-zero with one line on stderr naming the cause, and leave the
checkout and the cache as they were: refused before any work, never half-way through it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llama_images.adapters.manifest import tree_manifest
from llama_images.adapters.source import VERIFIED_MARKER, load_pin
from llama_images.commands.cli import INTERRUPTED
from tests.unit.adapters.test_source import fake_sdist
from tests.unit.conftest import MINIMAL_UI, REPO_ROOT, git

INVOKE = Path(sys.executable).parent / "invoke"
PIN = load_pin(REPO_ROOT / ".devops")
UNREACHABLE = "127.0.0.1:9"  # the discard port: nothing listens there
IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@example.invalid")


@dataclass(frozen=True)
class Place:
    """Where a case runs: the checkout (cwd) and the cache folder it is given."""

    checkout: Path
    cache: Path

    @property
    def tree(self) -> Path:
        return self.cache / "sources" / PIN.commit


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    cause: str  # a regular expression the one line on stderr must match
    dotenv: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)
    prepare: Callable[[Place], object] | None = None


def make_checkout(root: Path) -> Path:
    root.mkdir()
    shutil.copy2(REPO_ROOT / "tasks.py", root / "tasks.py")
    shutil.copytree(REPO_ROOT / ".devops", root / ".devops")
    for name in ("llama_images", "base-images"):
        (root / name).symlink_to(REPO_ROOT / name)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, *IDENTITY, "commit", "--quiet", "-m", "checkout")
    return root


def state(place: Place) -> dict[str, str]:
    """Every file of the checkout (its git metadata aside) and of the cache, by digest."""
    files = {
        f"checkout/{name}": digest
        for name, digest in tree_manifest(place.checkout).items()
        if not name.startswith(".git/")
    }
    if place.cache.is_dir():
        files.update({f"cache/{n}": d for n, d in tree_manifest(place.cache).items()})
    return files


def environ(place: Place, extra: Mapping[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_IMAGES_")}
    return {
        **kept,
        "DOCKER_HOST": f"unix://{place.cache.parent}/no-engine.sock",
        "LLAMA_IMAGES_CACHE_DIR": str(place.cache),
        **extra,
    }


# --- what some cases prepare


def cached_tree(place: Place) -> None:
    """A verified cached source, as a fetch leaves it: files and their manifest."""
    tree = place.tree
    (tree / "tools" / "server").mkdir(parents=True)
    (tree / "tools" / "ui").mkdir()
    (tree / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.14)\nproject(llama)\n")
    for name, data in MINIMAL_UI.items():
        (tree / "tools" / "ui" / name).write_bytes(data)
    record = {"origin": "test", "proof": "test", "algorithm": "blake2b", "files": {}}
    record["files"] = tree_manifest(tree)
    (tree / VERIFIED_MARKER).write_text(json.dumps(record))


def file_removed(place: Place) -> None:
    cached_tree(place)
    (place.tree / "tools" / "ui" / "package-lock.json").unlink()


def file_added(place: Place) -> None:
    cached_tree(place)
    (place.tree / "tools" / "extra.cpp").write_text("int x;\n")


def manifest_missing_an_entry(place: Place) -> None:
    cached_tree(place)
    marker = place.tree / VERIFIED_MARKER
    record = json.loads(marker.read_text())
    del record["files"]["tools/ui/package.json"]
    marker.write_text(json.dumps(record))


def pin_to_archive(place: Place, archive: Path, sha256: str) -> None:
    """The checkout's pin names one source: a local archive (nothing leaves the machine)."""
    pin = place.checkout / ".devops" / "pin.toml"
    head = pin.read_text().split("[[sources]]")[0]
    pin.write_text(
        f'{head}[[sources]]\nkind = "archive"\npath = "{archive}"\n'
        f'subdir = "vendor/llama.cpp"\nsha256 = "{sha256}"\n'
    )


def marker_truncated(place: Place) -> None:
    cached_tree(place)
    marker = place.tree / VERIFIED_MARKER
    marker.write_bytes(marker.read_bytes()[:40])
    pin_to_archive(place, place.cache.parent / "absent.tar.gz", "0" * 64)


def marker_emptied(place: Place) -> None:
    cached_tree(place)
    (place.tree / VERIFIED_MARKER).write_bytes(b"")
    pin_to_archive(place, place.cache.parent / "absent.tar.gz", "0" * 64)


def archive_with_another_digest(place: Place) -> None:
    archive = fake_sdist(place.cache.parent / "llama-cpp-python-0.3.35.tar.gz")
    pin_to_archive(place, archive, "0" * 64)


def pin_truncated(place: Place) -> None:
    pin = place.checkout / ".devops" / "pin.toml"
    pin.write_bytes(pin.read_bytes()[:120])


def owned_by_another_user(place: Place) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    os.chown(place.checkout, 12345, 12345)


def not_a_repository(place: Place) -> None:
    shutil.rmtree(place.checkout / ".git")


def no_commit_yet(place: Place) -> None:
    shutil.rmtree(place.checkout / ".git")
    git(place.checkout, "init", "--quiet", "--initial-branch=main")


def unreachable_remote(place: Place) -> None:
    git(place.checkout, "remote", "add", "origin", f"https://{UNREACHABLE}/none.git")


DRY_BUILD = ("build-local", "--dry-run")
DRY_PUBLISH = ("publish-images", "--dry-run", "--registry", UNREACHABLE)
BAKE = ("bake-file", "--variants", "cpu")
CHANGED = r"^error: cached llama\.cpp source \S+ no longer matches what was verified: "
REFETCH_FAILED = (
    r"^error: cached llama\.cpp source \S+ has (an unreadable|a malformed) "
    rf"{VERIFIED_MARKER}, and no source of llama\.cpp could be fetched: "
    r"source archive \S+/absent\.tar\.gz does not exist$"
)

CASES = {
    # settings: .env and the environment, each refused with where and the closest name
    "dotenv-unparsable": Case(
        DRY_BUILD,
        r"\.env line 2: python-dotenv cannot parse it",
        dotenv=b"LLAMA_IMAGES_REPO=x\nthis is not a setting\n",
    ),
    "dotenv-unclosed-quote": Case(
        DRY_BUILD, r'\.env line 1: its " quote is never closed', dotenv=b'LLAMA_IMAGES_REPO="x\n'
    ),
    "dotenv-misspelt-name": Case(
        DRY_BUILD,
        r"unknown setting LLAMA_IMAGES_VARAINTS in \S+\.env line 2: "
        r"did you mean LLAMA_IMAGES_VARIANTS\?$",
        dotenv=b"# mine\nLLAMA_IMAGES_VARAINTS=cpu\n",
    ),
    "dotenv-utf16": Case(
        DRY_BUILD,
        r"\.env line 1 is not UTF-8 \(it is UTF-16\): save it as UTF-8$",
        dotenv="LLAMA_IMAGES_REPO=x\n".encode("utf-16"),
    ),
    "dotenv-no-value": Case(
        DRY_BUILD, r"\.env line 1: LLAMA_IMAGES_REPO has no value", dotenv=b"LLAMA_IMAGES_REPO\n"
    ),
    "dotenv-unknown-variant": Case(
        DRY_BUILD,
        r"^error: unknown variant vulkn: known variants are .* \(did you mean vulkan\?\)$",
        dotenv=b"LLAMA_IMAGES_VARIANTS=cpu,vulkn\n",
    ),
    "flag-unknown-variant": Case(
        (*BAKE[:2], "cpux"), r"^error: unknown variant cpux: .* \(did you mean cpu\?\)$"
    ),
    "dotenv-unknown-platform": Case(
        DRY_BUILD,
        r"^error: unsupported platform 'linux/arm': .* \(did you mean linux/arm64\?\)$",
        dotenv=b"LLAMA_IMAGES_PLATFORMS=linux/arm\n",
    ),
    "dotenv-unknown-target": Case(
        DRY_BUILD,
        r"^error: unknown target sever: known targets are .* \(did you mean server\?\)$",
        dotenv=b"LLAMA_IMAGES_TARGETS=runtime,sever\n",
    ),
    "publish-unknown-target-before-the-registry": Case(
        (*DRY_PUBLISH, "--targets", "sever"), r"^error: unknown target sever: .*server\?\)$"
    ),
    "dotenv-unknown-base-mode": Case(
        DRY_BUILD,
        r"^error: unknown base mode 'offlne': .* \(did you mean offline\?\)$",
        dotenv=b"LLAMA_IMAGES_BASE_MODE=offlne\n",
    ),
    "env-unknown-signing-mode": Case(
        DRY_PUBLISH,
        r"^error: unknown signing mode 'keys': .* \(did you mean key\?\)$",
        env={"LLAMA_IMAGES_SIGNING": "keys"},
    ),
    # refusals that must come before any work: no copy, no push, no record
    "dotenv-upper-case-repository": Case(
        BAKE,
        r"^error: LLAMA_IMAGES_REPO 'Llama\.cpp' is not a valid image repository name",
        dotenv=b"LLAMA_IMAGES_REPO=Llama.cpp\n",
    ),
    "flag-upper-case-registry-namespace": Case(
        ("publish-images", "--dry-run", "--registry", "ghcr.io/Owner"),
        r"'ghcr\.io/Owner' is not a registry: use .* lower-case namespace",
    ),
    "publish-bogus-mode": Case(
        ("publish-images", "--mode", "mrege", "--registry", UNREACHABLE),
        r"^error: unknown publish mode 'mrege': choose one of all, push, merge "
        r"\(did you mean merge\?\)$",
    ),
    "dry-run-merge-to-an-unreachable-registry": Case(
        (*DRY_PUBLISH, "--mode", "merge"),
        rf"^error: registry {UNREACHABLE} cannot be reached: .*Connection refused",
    ),
    "export-ccache-without-a-registry": Case(
        ("export-ccache", "--dry-run"), r"^error: no ccache registry: set LLAMA_IMAGES_CCACHE"
    ),
    "unknown-builder-target": Case(
        (*DRY_BUILD, "--builder-target", "prebuild"), r"\(did you mean prebuilt\?\)$"
    ),
    # messages: the real cause, in the user's words
    "repository-of-another-user": Case(
        ("show-git-info",),
        r"^error: git refuses \S+, which another user owns \(fatal: detected dubious "
        r"ownership .*safe\.directory",
        prepare=owned_by_another_user,
    ),
    "not-a-repository": Case(
        DRY_BUILD,
        r"is not a git repository \(fatal: not a git repository.*\): .* run from a clone$",
        prepare=not_a_repository,
    ),
    "no-commit-yet": Case(DRY_BUILD, r"has no commit yet: commit first", prepare=no_commit_yet),
    "unreachable-remote-keeps-gits-reason": Case(
        ("release-base-images", "--dry-run"),
        rf"^error: git ls-remote .* failed in \S+: fatal: unable to access "
        rf"'https://{UNREACHABLE}/none\.git/': Failed to connect",
        prepare=unreachable_remote,
    ),
    "unknown-flag-names-the-closest": Case(
        ("publish-images", "--registy", "x"),
        r"^No idea what '--registy' is! Did you mean --registry\?$",
    ),
    "output-under-a-missing-user": Case(
        (*BAKE, "--output", "~nosuchuser/bake.json"),
        r"^error: --output '~nosuchuser/bake\.json' starts with ~nosuchuser, "
        r"but there is no user 'nosuchuser'",
    ),
    "cache-under-a-missing-user": Case(
        DRY_BUILD,
        r"^error: LLAMA_IMAGES_CACHE_DIR '~nosuchuser/cache' starts with ~nosuchuser",
        env={"LLAMA_IMAGES_CACHE_DIR": "~nosuchuser/cache"},
    ),
    "cosign-key-under-a-missing-user": Case(
        DRY_PUBLISH,
        r"^error: LLAMA_IMAGES_COSIGN_KEY '~nosuchuser/cosign\.key' starts with ~nosuchuser",
        env={"LLAMA_IMAGES_COSIGN_KEY": "~nosuchuser/cosign.key"},
    ),
    # integrity: a cached source that is not what was verified, a pin that cannot be read
    "source-file-removed-diff-upstream": Case(
        ("diff-upstream",),
        CHANGED + r"tools/ui/package-lock\.json is missing; remove",
        prepare=file_removed,
    ),
    "source-file-added-build-local": Case(
        DRY_BUILD, CHANGED + r"tools/extra\.cpp was added; remove", prepare=file_added
    ),
    "manifest-missing-an-entry": Case(
        DRY_BUILD,
        CHANGED + r"tools/ui/package\.json was added; remove",
        prepare=manifest_missing_an_entry,
    ),
    "marker-truncated-and-no-source": Case(DRY_BUILD, REFETCH_FAILED, prepare=marker_truncated),
    "marker-emptied-and-no-source-diff-upstream": Case(
        ("diff-upstream",), REFETCH_FAILED, prepare=marker_emptied
    ),
    "archive-with-another-digest": Case(
        DRY_BUILD,
        r"^error: source checksum mismatch for llama-cpp-python-0\.3\.35\.tar\.gz: sha256 "
        r"[0-9a-f]{64}, the pin says 0{64}; nothing was built$",
        prepare=archive_with_another_digest,
    ),
    "pin-truncated": Case(
        ("show-git-info",),
        r"^error: upstream pin \S+pin\.toml is malformed: ",
        prepare=pin_truncated,
    ),
}


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(make_checkout(tmp_path / "checkout"), tmp_path / "cache")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_and_leaves_nothing_half_done(place: Place, case: Case) -> None:
    if case.dotenv:
        (place.checkout / ".env").write_bytes(case.dotenv)
    if case.prepare is not None:
        case.prepare(place)
    before = state(place)
    done = subprocess.run(
        [str(INVOKE), *case.argv],
        cwd=place.checkout,
        env=environ(place, case.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1, (done.returncode, lines)
    assert re.search(case.cause, lines[0]), lines[0]
    assert state(place) == before, "the run left files behind or changed some"


def test_ctrl_c_while_a_registry_keeps_silent_is_one_line_and_130(place: Place) -> None:
    """A registry that accepts the connection and never answers: the user's Ctrl-C ends
    the wait with one line, before anything is pushed or any release record is written."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        registry = f"127.0.0.1:{silent.getsockname()[1]}"
        before = state(place)
        # A shell that started this run in the background may have set SIGINT to "ignore",
        # which the child would inherit: Ctrl-C is what is tested, so give it the default.
        with subprocess.Popen(
            [str(INVOKE), "publish-images", "--dry-run", "--registry", registry],
            cwd=place.checkout,
            env=environ(place, {}),
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        ) as running:
            try:
                silent.settimeout(60)
                connection, _ = silent.accept()  # it waits for the registry's answer now
                running.send_signal(signal.SIGINT)
                _, stderr = running.communicate(timeout=60)
                connection.close()
            finally:
                running.kill()
    assert running.returncode == INTERRUPTED
    assert stderr.strip() == "error: interrupted (Ctrl-C)"
    assert state(place) == before
