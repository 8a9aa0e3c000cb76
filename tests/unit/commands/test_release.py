"""release-base-images against a real bare remote: every refusal, then a real release."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.commands.release import release
from llama_images.errors import ProjectError
from llama_images.model.project import Project
from llama_images.model.settings import Settings
from tests.unit.conftest import git

IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@example.invalid")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", str(remote), str(work))
    (work / "README").write_text("one\n")
    git(work, "add", "README")
    git(work, *IDENTITY, "commit", "--quiet", "-m", "one")
    git(work, "push", "--quiet", "origin", "main")
    return work


def project(work: Path) -> Project:
    return Project(root=work, settings=Settings())


def test_dry_run_changes_nothing(clone: Path) -> None:
    plan = release(project(clone), dry_run=True)
    assert plan.tag.startswith("base-images/v")
    assert git(clone, "tag", "--list") == ""
    assert git(clone, "ls-remote", "--tags", "origin") == ""


def test_real_release_pushes_an_annotated_tag(clone: Path) -> None:
    plan = release(project(clone), dry_run=False)
    assert git(clone, "cat-file", "-t", plan.tag) == "tag"  # annotated
    remote_tags = git(clone, "ls-remote", "--tags", "origin")
    assert f"refs/tags/{plan.tag}" in remote_tags
    with pytest.raises(ProjectError, match="already exists locally"):
        release(project(clone), dry_run=False)


def test_dirty_tree_is_refused(clone: Path) -> None:
    (clone / "README").write_text("changed\n")
    with pytest.raises(ProjectError, match="uncommitted changes"):
        release(project(clone), dry_run=False)


def test_wrong_branch_is_refused(clone: Path) -> None:
    git(clone, "switch", "--quiet", "-c", "feature")
    with pytest.raises(ProjectError, match="releases are cut from main, HEAD is on feature"):
        release(project(clone), dry_run=False)


def test_head_not_on_the_remote_is_refused(clone: Path) -> None:
    git(clone, *IDENTITY, "commit", "--quiet", "--allow-empty", "-m", "unpushed")
    with pytest.raises(ProjectError, match="is not origin/main"):
        release(project(clone), dry_run=False)


def test_behind_the_remote_is_refused(clone: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(tmp_path / "remote.git"), str(other))
    git(other, *IDENTITY, "commit", "--quiet", "--allow-empty", "-m", "ahead")
    git(other, "push", "--quiet", "origin", "main")
    with pytest.raises(ProjectError, match="pull or push"):
        release(project(clone), dry_run=False)


def test_tag_only_on_the_remote_is_refused(clone: Path, tmp_path: Path) -> None:
    plan = release(project(clone), dry_run=True)
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(tmp_path / "remote.git"), str(other))
    git(other, *IDENTITY, "tag", "--annotate", plan.tag, "-m", "elsewhere")
    git(other, "push", "--quiet", "origin", plan.tag)
    with pytest.raises(ProjectError, match="already exists on origin"):
        release(project(clone), dry_run=False)
    assert git(clone, "tag", "--list") == ""


def test_failed_push_leaves_no_local_tag(clone: Path, tmp_path: Path) -> None:
    # A pre-receive hook that refuses everything stands for an unreachable remote.
    hook = tmp_path / "remote.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho refused >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(ProjectError, match="nothing was released"):
        release(project(clone), dry_run=False)
    assert git(clone, "tag", "--list") == ""
