"""The source and url labels: the repository's https address however its remote is spelled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from llama_images.adapters.gitinfo import web_address
from llama_images.errors import ProjectError
from llama_images.model.project import Project, github_actions_address
from llama_images.model.settings import Settings
from tests.unit.conftest import git

ADDRESS = "https://github.com/Owner/Repo"
IN_ACTIONS = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "Owner/Repo",
}


@pytest.mark.parametrize(
    "remote",
    [
        "git@github.com:Owner/Repo.git",
        "git@github.com:Owner/Repo",
        "ssh://git@github.com/Owner/Repo.git",
        "ssh://git@github.com:22/Owner/Repo",
        "git+ssh://git@github.com/Owner/Repo.git",
        "git://github.com/Owner/Repo.git",
        "https://github.com/Owner/Repo.git",
        "https://github.com/Owner/Repo/",
        "https://user:token@github.com/Owner/Repo",
        "http://github.com/Owner/Repo",
        "HTTPS://GitHub.com/Owner/Repo.git",
    ],
)
def test_every_spelling_is_the_https_address(remote: str) -> None:
    assert web_address(remote) == ADDRESS


def test_an_https_port_is_kept() -> None:
    assert web_address("https://git.example:8443/group/sub/repo.git") == (
        "https://git.example:8443/group/sub/repo"
    )


@pytest.mark.parametrize(
    "remote",
    [
        "/srv/git/repo.git",
        "../repo",
        "repo",
        "./dir:with-colon",
        "~/repo.git",
        "file:///srv/git/repo.git",
        "https://github.com/",
        "git@github.com:",
        "ssh://github.com:port/Owner/Repo",
    ],
)
def test_a_local_path_is_no_address(remote: str) -> None:
    assert web_address(remote) is None


@pytest.fixture
def local_clone(
    scratch_repo: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A clone whose origin is a local path, outside GitHub Actions, with no source URL set."""
    for name in ("LLAMA_IMAGES_SOURCE_URL", *IN_ACTIONS):
        monkeypatch.delenv(name, raising=False)
    origin = scratch_repo("2026-11-22T03:12:44Z")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(origin), str(clone))
    return clone


def test_a_clone_of_a_local_checkout_has_no_address(local_clone: Path) -> None:
    assert git(local_clone, "remote", "get-url", "origin").startswith("/")
    assert Project.open(local_clone).source_url(environ={}) == ""


def test_a_clone_of_a_local_checkout_in_github_actions(local_clone: Path) -> None:
    assert Project.open(local_clone).source_url(environ=IN_ACTIONS) == ADDRESS


def test_an_ssh_remote_is_made_https(local_clone: Path) -> None:
    git(local_clone, "remote", "set-url", "origin", "git@github.com:Owner/Repo.git")
    assert Project.open(local_clone).source_url(environ={}) == ADDRESS


def test_the_setting_wins(local_clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_IMAGES_SOURCE_URL", "https://token@github.com/Other/Fork.git")
    project = Project.open(local_clone)
    assert project.source_url(environ=IN_ACTIONS) == "https://github.com/Other/Fork"


def test_a_path_as_the_setting_is_refused() -> None:
    with pytest.raises(ProjectError, match=r"source URL '/srv/repo' is not a web address"):
        Settings(source_url="/srv/repo").validate()


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {**IN_ACTIONS, "GITHUB_ACTIONS": ""},
        {**IN_ACTIONS, "GITHUB_REPOSITORY": ""},
        {**IN_ACTIONS, "GITHUB_SERVER_URL": "file:///srv"},
    ],
)
def test_outside_github_actions_there_is_no_address(environ: dict[str, str]) -> None:
    assert github_actions_address(environ) == ""
