from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llama_images.adapters.source import SourceTree, load_pin
from llama_images.building.bases import ResolvedBases
from llama_images.building.plan import BuildPlan, PlanInputs, image_repository, make_plan
from llama_images.model.catalog import load_catalog
from llama_images.model.tags import TARGETS
from llama_images.model.version import BuildVersion, CommitFacts

REPO_ROOT = Path(__file__).resolve().parents[2]
# A web UI (tools/ui) with no dependency: npm installs nothing and fetches nothing.
MINIMAL_UI = {
    "package.json": b'{"name": "ui", "version": "1.0.0"}\n',
    "package-lock.json": (
        b'{"name": "ui", "version": "1.0.0", "lockfileVersion": 3, "requires": true,'
        b' "packages": {"": {"name": "ui", "version": "1.0.0"}}}\n'
    ),
}
CATALOG = load_catalog(REPO_ROOT / "base-images")
OFFLINE = ResolvedBases(CATALOG.offline.ref, CATALOG.offline.ref, "offline")
COMMIT = CommitFacts(
    sha="0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", timestamp=1795000000, branch="main", dirty=False
)


def plan_of(
    variants: list[str],
    platforms: tuple[str, ...] = ("linux/amd64",),
    *,
    registry: str = "",
    bases: dict[str, ResolvedBases] | None = None,
    targets: tuple[str, ...] = TARGETS,
    **inputs: Any,
) -> BuildPlan:
    """The plan every unit test builds on: the real catalog and pin, offline bases unless
    `bases` says otherwise; `inputs` replace PlanInputs' test values."""
    every = {name: OFFLINE for name in CATALOG.variants}
    every.update(bases or {})
    shared: dict[str, Any] = {
        "version": BuildVersion.parse("2611220312-0a1b2c3"),
        "commit": COMMIT,
        "pin": load_pin(REPO_ROOT / ".devops"),
        "source": SourceTree(Path("/cache/src"), "pypi-sdist llama-cpp-python==0.3.35", "ok"),
        "repository": image_repository(registry, "llama.cpp"),
        "context": Path("/cache/ctx"),
        "source_url": "https://example.invalid/llama-images",
        "scripts": REPO_ROOT / "base-images" / "scripts",
    }
    return make_plan(
        PlanInputs(**{**shared, **inputs}),
        CATALOG.select(variants),
        every,
        list(platforms),
        targets,
        CATALOG.variants["cpu"],
    )


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
