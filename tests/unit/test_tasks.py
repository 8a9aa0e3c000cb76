"""The tasks as a user runs them: bad input is one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.conftest import REPO_ROOT


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_unknown_variant_is_one_line() -> None:
    done = invoke("build-local", "--variants", "cpu,gpu", "--dry-run")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: unknown variant gpu: known variants are cpu, vulkan, cuda")


def test_no_engine_is_one_line(tmp_path: Path) -> None:
    done = invoke(
        "build-local", "--variants", "cpu", env={"DOCKER_HOST": f"unix://{tmp_path}/absent.sock"}
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no Docker engine answers"), lines


def test_bad_base_mode_is_one_line() -> None:
    done = invoke("build-local", "--base-mode", "sometimes", "--dry-run")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: unknown base mode 'sometimes': choose one of auto, upstream, offline"
    )


def test_show_git_info() -> None:
    done = invoke("show-git-info")
    assert done.returncode == 0, done.stderr
    for fact in ("version", "release tag", "commit time (RFC 3339)", "b10454"):
        assert fact in done.stdout


def test_a_path_as_source_url_is_one_line() -> None:
    done = invoke("show-git-info", env={"LLAMA_IMAGES_SOURCE_URL": "/srv/repo"})
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: source URL '/srv/repo' is not a web address: "
        "set LLAMA_IMAGES_SOURCE_URL to one like https://github.com/Owner/Repo"
    )
