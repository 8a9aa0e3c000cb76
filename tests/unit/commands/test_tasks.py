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


def test_dry_runs_walk_the_real_steps_without_an_engine(tmp_path: Path) -> None:
    """build-builders and export-ccache: the same steps as a real run, printed, no engine."""
    tree = tmp_path / "llama.cpp"
    (tree / "tools" / "server").mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("project(llama)\n")
    env = {
        "DOCKER_HOST": f"unix://{tmp_path}/absent.sock",
        "LLAMA_IMAGES_CACHE_DIR": str(tmp_path / "cache"),
        "LLAMA_IMAGES_SOURCE_PATH": str(tree),
    }
    builders = invoke("build-builders", "--variants", "vulkan", "--dry-run", env=env)
    assert builders.returncode == 0, builders.stderr
    out = builders.stdout
    assert f"would stage the build context in {tmp_path}/cache/contexts/" in out
    assert "--target builder-fromsource" in out and "vulkan.Dockerfile" in out
    assert "would tag <builder-vulkan-amd64-" in out
    assert not (tmp_path / "cache" / "contexts").exists()
    ccache = invoke("export-ccache", "--registry", "localhost:5000", "--dry-run", env=env)
    assert ccache.returncode == 0, ccache.stderr
    assert "would push localhost:5000/llama.cpp-ccache:" in ccache.stdout
    assert "ccache.Dockerfile --target ccache" in ccache.stdout
