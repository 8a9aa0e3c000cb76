"""The cached source is compared with the manifest written when it was unpacked, every time."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from llama_images.adapters.manifest import first_difference, tree_manifest
from llama_images.adapters.source import (
    VERIFIED_MARKER,
    Pin,
    SourceTree,
    fetch_source,
    load_pin,
    sha256_of,
)
from llama_images.building.builder import context_copy_difference, stage_context
from llama_images.building.plan import BuildPlan
from llama_images.errors import ProjectError
from llama_images.model.project import Project
from llama_images.model.settings import Settings
from tests.unit.adapters.test_source import archive_pin, fake_sdist
from tests.unit.commands.test_tasks import invoke
from tests.unit.conftest import REPO_ROOT, plan_of


@pytest.fixture
def pin(tmp_path: Path) -> Pin:
    archive = fake_sdist(tmp_path / "pkg-1.0.tar.gz")
    return archive_pin(archive, sha256_of(archive))


def cached(pin: Pin, cache: Path) -> Path:
    return fetch_source(pin, cache).path


def test_the_record_holds_a_manifest_of_every_file(pin: Pin, tmp_path: Path) -> None:
    tree = cached(pin, tmp_path / "cache")
    record = json.loads((tree / VERIFIED_MARKER).read_text())
    assert record["algorithm"] == "blake2b"
    assert sorted(record["files"]) == [
        "CMakeLists.txt",
        "tools/server/server.cpp",
        "tools/ui/package-lock.json",
        "tools/ui/package.json",
    ]
    assert record["files"] == tree_manifest(tree, exclude={VERIFIED_MARKER})
    leftovers = [p.name for p in tree.iterdir() if p.name.startswith(f".{VERIFIED_MARKER}")]
    assert leftovers == []  # written atomically: no temporary file stays behind


def test_a_reused_tree_says_its_files_were_checked(pin: Pin, tmp_path: Path) -> None:
    cached(pin, tmp_path / "cache")
    assert fetch_source(pin, tmp_path / "cache").proof.endswith("; all 4 files match")


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda t: (t / "tools/server/server.cpp").write_text("evil"), "server.cpp changed"),
        (lambda t: (t / "CMakeLists.txt").unlink(), "CMakeLists.txt is missing"),
        (lambda t: (t / "tools/extra.cpp").write_text(""), "tools/extra.cpp was added"),
    ],
)
def test_a_changed_cache_stops_with_the_file_named(
    pin: Pin, tmp_path: Path, tamper: Callable[[Path], object], named: str
) -> None:
    tree = cached(pin, tmp_path / "cache")
    tamper(tree)
    with pytest.raises(ProjectError, match=rf"{named}; remove .*{tree.name} to fetch it again"):
        fetch_source(pin, tmp_path / "cache")


def test_same_size_same_mtime_change_is_caught(pin: Pin, tmp_path: Path) -> None:
    tree = cached(pin, tmp_path / "cache")
    source = tree / "tools/server/server.cpp"
    before = source.stat()
    source.write_bytes(source.read_bytes().replace(b"main", b"mian"))
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ProjectError, match=r"server.cpp changed"):
        fetch_source(pin, tmp_path / "cache")


def test_a_changed_link_is_caught(pin: Pin, tmp_path: Path) -> None:
    tree = cached(pin, tmp_path / "cache")
    (tree / "link").symlink_to("CMakeLists.txt")
    record = json.loads((tree / VERIFIED_MARKER).read_text())
    record["files"]["link"] = "link:CMakeLists.txt"
    (tree / VERIFIED_MARKER).write_text(json.dumps(record))
    fetch_source(pin, tmp_path / "cache")
    (tree / "link").unlink()
    (tree / "link").symlink_to("/etc/passwd")
    with pytest.raises(ProjectError, match=r"link changed"):
        fetch_source(pin, tmp_path / "cache")


@pytest.mark.parametrize(
    "record",
    [
        "",  # truncated to nothing
        '{"origin": "x", "proof": "y", "files": {"CMake',  # truncated half way
        "\ufeff\udc80",  # not UTF-8 (written with surrogateescape below)
        "[]",
        '{"origin": "x", "proof": "y"}',  # cached before manifests were kept
        '{"origin": "x", "proof": "y", "algorithm": "md5", "files": {}}',
    ],
)
def test_a_partial_or_old_record_is_fetched_again(
    pin: Pin, tmp_path: Path, record: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = cached(pin, tmp_path / "cache")
    (tree / "tools/server/server.cpp").write_text("left over from an interrupted fetch")
    (tree / VERIFIED_MARKER).write_bytes(record.encode("utf-8", "surrogateescape"))
    again = fetch_source(pin, tmp_path / "cache")
    assert (again.path / "tools/server/server.cpp").read_text() == "int main() {}\n"
    assert json.loads((again.path / VERIFIED_MARKER).read_text())["files"]
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1 and notice[0].endswith(": fetched it again"), notice


def test_an_unfinished_entry_without_a_record_is_fetched_again(pin: Pin, tmp_path: Path) -> None:
    tree = cached(pin, tmp_path / "cache")
    (tree / VERIFIED_MARKER).unlink()
    (tree / "CMakeLists.txt").unlink()
    assert (fetch_source(pin, tmp_path / "cache").path / "CMakeLists.txt").is_file()


def test_an_old_cache_with_no_source_left_is_one_error(pin: Pin, tmp_path: Path) -> None:
    tree = cached(pin, tmp_path / "cache")
    (tree / VERIFIED_MARKER).write_text('{"origin": "x", "proof": "y"}')
    Path(pin.sources[0].path).unlink()
    with pytest.raises(
        ProjectError, match=r"^cached .* has no manifest .*, and no source of llama.cpp could be"
    ):
        fetch_source(pin, tmp_path / "cache")


def test_first_difference_names_the_first_path_in_order() -> None:
    assert first_difference({"a": "1", "b": "2"}, {"a": "1", "b": "2"}) is None
    assert first_difference({"b": "2", "c": "3"}, {"b": "9", "a": "1"}) == "a was added"


def test_a_changed_cache_is_one_line_from_the_tasks(tmp_path: Path) -> None:
    pin = load_pin(REPO_ROOT / ".devops")
    tree = tmp_path / "sources" / pin.commit
    (tree / "tools" / "server").mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("project(llama)\n")
    files = tree_manifest(tree)
    record = {"origin": "test", "proof": "test", "algorithm": "blake2b", "files": files}
    (tree / VERIFIED_MARKER).write_text(json.dumps(record))
    (tree / "CMakeLists.txt").write_text("project(evil)\n")
    env = {"LLAMA_IMAGES_CACHE_DIR": str(tmp_path), "LLAMA_IMAGES_SOURCE_PATH": ""}
    for argv in (
        ["diff-upstream"],
        ["bake-file", "--output", str(tmp_path / "bake.json")],
        ["build-local", "--variants", "cpu", "--dry-run"],
    ):
        done = invoke(*argv, env=env)
        assert done.returncode == 1, argv
        assert done.stderr.strip() == (
            f"error: cached llama.cpp source {tree} no longer matches what was verified: "
            f"CMakeLists.txt changed; remove {tree} to fetch it again"
        ), argv


def staged_plan(source: SourceTree, context: Path) -> BuildPlan:
    return plan_of(["cpu"], source=source, context=context, source_url="")


def test_the_context_copy_is_checked_and_copied_again_when_it_differs(
    pin: Pin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = fetch_source(pin, tmp_path / "cache")
    plan = staged_plan(source, tmp_path / "context")
    project = Project(REPO_ROOT, Settings())
    stage_context(project, plan, local_source=False)
    copy = tmp_path / "context" / "llama.cpp" / "tools" / "server" / "server.cpp"
    assert context_copy_difference(source, copy.parents[2]) is None
    copy.write_text("changed in the context")
    assert context_copy_difference(source, copy.parents[2]) == "tools/server/server.cpp changed"
    stage_context(project, plan, local_source=False)
    assert copy.read_text() == "int main() {}\n"
    assert capsys.readouterr().err.strip() == (
        "==> build context's source copy: tools/server/server.cpp changed: copying it again"
    )


def test_the_context_copy_leaves_out_build_folders(pin: Pin, tmp_path: Path) -> None:
    source = fetch_source(pin, tmp_path / "cache")
    files = {**(source.files or {}), "build/CMakeCache.txt": "x", "a/.git/HEAD": "y"}
    with_builds = SourceTree(source.path, source.origin, source.proof, files=files)
    assert context_copy_difference(with_builds, source.path) is None


def test_a_fifo_or_unreadable_file_is_named_not_read(pin: Pin, tmp_path: Path) -> None:
    tree = cached(pin, tmp_path / "cache")
    os.unlink(tree / "CMakeLists.txt")
    os.mkfifo(tree / "CMakeLists.txt")  # opening it for reading would wait forever
    with pytest.raises(ProjectError, match=r"CMakeLists.txt changed"):
        fetch_source(pin, tmp_path / "cache")
    assert tree_manifest(tree)["CMakeLists.txt"] == "special:10000"


def test_a_user_source_path_must_exist_and_has_no_manifest(pin: Pin, tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"SOURCE_PATH .*/absent does not exist: point it"):
        fetch_source(pin, tmp_path / "cache", override=str(tmp_path / "absent"))
    mine = cached(pin, tmp_path / "cache")
    (mine / "tools/server/server.cpp").write_text("my own change")
    tree = fetch_source(pin, tmp_path / "elsewhere", override=str(mine))
    assert (tree.proof, tree.files) == ("local override, unverified", None)
