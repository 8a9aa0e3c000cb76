from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "install: installs the package into a fresh virtual environment (network, about a minute)",
    )


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    ).stdout.strip()


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Callable[[str], Path]:
    """A git repository with one commit made at a given ISO 8601 date."""

    def make(date: str) -> Path:
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        (repo / "README").write_text("scratch\n")
        git(repo, "add", "README")
        dates = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        git(
            repo,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "--quiet",
            "-m",
            "one",
            env=dates,
        )
        return repo

    return make
