"""Every task's failure is one line on stderr with the real cause, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from llama_images.adapters import gitinfo
from llama_images.commands.cli import INTERRUPTED, shows_errors
from llama_images.commands.drift import upstream_facts
from llama_images.errors import ProjectError
from tests.unit.commands.test_tasks import invoke
from tests.unit.conftest import MINIMAL_UI, REPO_ROOT, git


def one_line(done: object) -> str:
    stderr = getattr(done, "stderr", "")
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return str(lines[0])


def test_git_missing_from_path(tmp_path: Path) -> None:
    done = invoke("show-git-info", env={"PATH": str(tmp_path)})
    assert done.returncode == 1
    assert one_line(done) == (
        "error: git is not on PATH (git not found): install it (apt-get install git)"
    )


def test_not_a_repository_keeps_gits_reason(tmp_path: Path) -> None:
    with pytest.raises(
        ProjectError, match=r"is not a git repository \(fatal: not a git repository"
    ):
        gitinfo.toplevel(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_repository_of_another_user(tmp_path: Path) -> None:
    repo = tmp_path / "theirs"
    repo.mkdir()
    git(repo, "init", "--quiet")
    shutil.chown(repo, user=12345, group=12345)
    with pytest.raises(ProjectError) as raised:
        gitinfo.toplevel(repo)
    assert raised.value.message == (
        f"git refuses {repo}, which another user owns (fatal: detected dubious ownership in "
        f"repository at '{repo}'): run as its owner, or trust it with "
        f"git config --global --add safe.directory {repo}"
    )


def test_a_missing_user_in_a_path_is_one_line() -> None:
    done = invoke("diff-upstream", "--upstream", "~nosuchuser/llama.cpp")
    assert done.returncode == 1
    assert one_line(done).startswith(
        "error: --upstream '~nosuchuser/llama.cpp' starts with ~nosuchuser, "
        "but there is no user 'nosuchuser'"
    )


def llama_tree(root: Path, dockerfile: bytes) -> Path:
    (root / ".devops").mkdir(parents=True)
    (root / "CMakeLists.txt").write_text("project(llama)\n")
    (root / ".devops" / "cpu.Dockerfile").write_bytes(dockerfile)
    return root


def test_a_non_utf8_upstream_dockerfile_is_named(tmp_path: Path) -> None:
    tree = llama_tree(tmp_path, b"FROM ubuntu:24.04 AS build\n# caf\xe9\nFROM build AS base\n")
    with pytest.raises(ProjectError, match=r"cpu\.Dockerfile line 2 is not UTF-8: save it"):
        upstream_facts(tree)
    done = invoke("diff-upstream", "--upstream", str(tree))
    assert done.returncode == 1
    assert one_line(done).endswith("cpu.Dockerfile line 2 is not UTF-8: save it as UTF-8")


def test_ctrl_c_is_one_line_and_130() -> None:
    @shows_errors
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(Exit) as raised:
        try:
            interrupted()
        except KeyboardInterrupt:
            pytest.fail("Ctrl-C went past the task as a traceback")
    assert raised.value.code == INTERRUPTED == 130
    assert raised.value.message == "error: interrupted (Ctrl-C)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["build-local", "--variant", "cpu"],
            "No idea what '--variant' is! Did you mean --variants?",
        ),
        (["bake-file", "--ouput", "x"], "No idea what '--ouput' is! Did you mean --output?"),
        (["build-locl"], "No idea what 'build-locl' is! Did you mean build-local?"),
        (["build-local", "--zzzzzz"], "No idea what '--zzzzzz' is!"),
        (
            ["--variants", "cpu", "build-local"],
            "No idea what '--variants' is! Task flags follow the task's name, "
            "e.g. invoke bake-file --variants ...",
        ),
    ],
)
def test_an_unknown_flag_names_the_closest(argv: list[str], message: str) -> None:
    done = invoke(*argv)
    assert done.returncode == 1
    assert one_line(done) == message


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("absent/bake.json", "folder {tmp}/absent does not exist: create it first"),
        ("", "--output {tmp} is a folder: name a file in it"),
        ("file/bake.json", "--output {tmp}/file/bake.json: {tmp}/file is not a folder"),
        ("/proc/bake.json", "folder /proc is not writable (No such file or directory)"),
    ],
)
def test_bake_file_output_is_checked_before_the_source_is_copied(
    tmp_path: Path, output: str, message: str
) -> None:
    (tmp_path / "file").write_text("")
    cache = tmp_path / "cache"
    done = invoke(
        "bake-file",
        "--output",
        str(tmp_path / output),
        env={"LLAMA_IMAGES_CACHE_DIR": str(cache)},
    )
    assert done.returncode == 1
    assert one_line(done).endswith(message.format(tmp=tmp_path))
    assert not cache.exists()


def test_a_special_file_in_a_user_source_is_one_line(tmp_path: Path) -> None:
    tree = tmp_path / "llama.cpp"
    (tree / "tools" / "server").mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("project(llama)\n")
    os.mkfifo(tree / "fifo")
    env = {"LLAMA_IMAGES_CACHE_DIR": str(tmp_path / "cache"), "LLAMA_IMAGES_SOURCE_PATH": str(tree)}
    done = invoke("bake-file", "--output", str(tmp_path / "bake.json"), env=env)
    assert done.returncode == 1
    assert one_line(done) == (
        f"error: cannot copy {tree}/fifo into the build context: `{tree}/fifo` is a named pipe"
    )


def wait_until_blocked_on_a_fifo(pid: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    wchan = Path(f"/proc/{pid}/wchan")
    while time.monotonic() < deadline:
        if wchan.is_file() and wchan.read_text() == "wait_for_partner":
            return
        time.sleep(0.1)


def test_a_real_ctrl_c_is_one_line_and_130(tmp_path: Path) -> None:
    tree = llama_tree(tmp_path, b"")
    (tree / ".devops" / "cpu.Dockerfile").unlink()
    os.mkfifo(tree / ".devops" / "cpu.Dockerfile")  # reading it waits until interrupted
    argv = [sys.executable, "-m", "invoke", "diff-upstream", "--upstream", str(tree)]
    # A shell that started this run in the background may have set SIGINT to "ignore",
    # which the child would inherit: Ctrl-C is what is tested, so give it the default.
    with subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as running:
        try:
            wait_until_blocked_on_a_fifo(running.pid)
            running.send_signal(signal.SIGINT)
            _, stderr = running.communicate(timeout=60)
        finally:
            running.kill()
    assert running.returncode == INTERRUPTED
    assert stderr.strip() == "error: interrupted (Ctrl-C)"


def test_bake_file_is_written_whole(tmp_path: Path) -> None:
    tree = llama_tree(tmp_path / "llama.cpp", b"FROM ubuntu:24.04 AS build\n")
    (tree / "tools" / "server").mkdir(parents=True)
    (tree / "tools" / "ui").mkdir(parents=True)
    for name, data in MINIMAL_UI.items():
        (tree / "tools" / "ui" / name).write_bytes(data)
    env = {"LLAMA_IMAGES_CACHE_DIR": str(tmp_path / "cache"), "LLAMA_IMAGES_SOURCE_PATH": str(tree)}
    output = tmp_path / "out" / "bake.json"
    output.parent.mkdir()
    done = invoke("bake-file", "--variants", "cpu", "--output", str(output), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text())["target"]
    assert [p.name for p in output.parent.iterdir()] == ["bake.json"]
    assert output.stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_cache_file_system_is_one_line(tmp_path: Path) -> None:
    tree = llama_tree(tmp_path / "llama.cpp", b"FROM ubuntu:24.04 AS build\n")
    (tree / "tools" / "ui").mkdir(parents=True)
    for name, data in MINIMAL_UI.items():
        (tree / "tools" / "ui" / name).write_bytes(data)
    (tree / "tools" / "server").mkdir()
    (tree / "big.bin").write_bytes(os.urandom(1 << 20))
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(cache)], check=True)
    try:
        env = {"LLAMA_IMAGES_CACHE_DIR": str(cache), "LLAMA_IMAGES_SOURCE_PATH": str(tree)}
        done = invoke(
            "bake-file", "--variants", "cpu", "--output", str(tmp_path / "b.json"), env=env
        )
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "No space left on device" in lines[0] or "no space left" in lines[0], lines
    assert str(cache) in lines[0], lines
    assert not (tmp_path / "b.json").exists()
