"""tasks.py loads with only what `pip install .` installs: the extras' packages load lazily."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.conftest import REPO_ROOT

# Imports tasks.py with the given top-level modules made unimportable.
IMPORT_TASKS_WITHOUT = (
    "import sys; sys.modules.update(dict.fromkeys(sys.argv[1:])); "
    "import invoke, tasks; invoke.Collection.from_module(tasks)"
)
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "build", "results", "*.egg-info", "__pycache__", ".*cache"
)


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(text).name) for text in requirements}


def extras_only_modules() -> list[str]:
    """Top-level modules of the installed packages that only the optional extras bring."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    extra_only = set().union(*map(requirement_names, extras)) - requirement_names(
        project["dependencies"]
    )
    return sorted(
        module
        for module, distributions in packages_distributions().items()
        if extra_only & {canonicalize_name(name) for name in distributions}
    )


def clean_environment() -> dict[str, str]:
    """This environment without what would point a child Python at another environment."""
    leaks = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    return {name: value for name, value in os.environ.items() if name not in leaks}


def run(*argv: str | Path, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_extras_are_known() -> None:
    assert {"gguf", "numpy", "pytest"} <= set(extras_only_modules())


def test_tasks_load_without_the_extras() -> None:
    blocked = extras_only_modules()
    done = run(sys.executable, "-c", IMPORT_TASKS_WITHOUT, *blocked, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]


@pytest.mark.install
def test_invoke_lists_tasks_after_a_plain_install(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCES)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    created = run(sys.executable, "-m", "venv", venv, cwd=tmp_path, timeout=120)
    assert created.returncode == 0, created.stderr
    pip_install = (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    installed = run(*pip_install, source, cwd=tmp_path, timeout=600)
    assert installed.returncode == 0, installed.stderr
    assert run(python, "-c", "import gguf", cwd=tmp_path, timeout=60).returncode != 0

    listed = run(venv / "bin" / "invoke", "--list", cwd=REPO_ROOT, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "release-base-images" in listed.stdout
