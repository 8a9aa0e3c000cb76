"""`release-base-images`: every check first, then one annotated tag, pushed."""

from __future__ import annotations

from dataclasses import dataclass

from llama_images.adapters import gitinfo
from llama_images.errors import ProjectError
from llama_images.model.project import Project
from llama_images.model.version import BuildVersion


@dataclass(frozen=True)
class ReleasePlan:
    version: BuildVersion
    tag: str
    commit: str
    branch: str
    remote: str

    def steps(self) -> list[str]:
        return [
            f"git tag --annotate {self.tag} (at {self.commit[:12]} on {self.branch})",
            f"git push {self.remote} refs/tags/{self.tag}",
        ]


def check_release(project: Project) -> ReleasePlan:
    """Every precondition of a release; the first that fails says what to do."""
    root = project.root
    settings = project.settings
    commit = project.commit()
    if commit.dirty:
        raise ProjectError("the work tree has uncommitted changes: commit or stash them first")
    if commit.branch != settings.release_branch:
        raise ProjectError(
            f"releases are cut from {settings.release_branch}, HEAD is on "
            f"{commit.branch or 'a detached HEAD'}: git switch {settings.release_branch}"
        )
    if gitinfo.remote_url(root, settings.remote) is None:
        raise ProjectError(f"no git remote named {settings.remote}: set LLAMA_IMAGES_REMOTE")
    remote_head = gitinfo.remote_branch_head(root, settings.remote, settings.release_branch)
    if remote_head != commit.sha:
        raise ProjectError(
            f"HEAD ({commit.sha[:12]}) is not {settings.remote}/{settings.release_branch} "
            f"({(remote_head or 'absent')[:12]}): pull or push until they are the same commit"
        )
    version = BuildVersion.parse(str(project.version()))
    tag = version.tag
    if gitinfo.local_has_tag(root, tag):
        raise ProjectError(f"tag {tag} already exists locally: this commit is released already")
    if gitinfo.remote_has_tag(root, settings.remote, tag):
        raise ProjectError(
            f"tag {tag} already exists on {settings.remote}: this commit is released already "
            f"(git fetch --tags to see it)"
        )
    return ReleasePlan(version, tag, commit.sha, settings.release_branch, settings.remote)


def release(project: Project, *, dry_run: bool) -> ReleasePlan:
    plan = check_release(project)
    if dry_run:
        return plan
    gitinfo.create_annotated_tag(project.root, plan.tag, f"llama.cpp base images {plan.version}")
    try:
        gitinfo.push_tag(project.root, plan.remote, plan.tag)
    except ProjectError as exc:
        # The tag was made by this run only: leave no local tag the remote lacks.
        gitinfo.delete_local_tag(project.root, plan.tag)
        raise ProjectError(f"push of {plan.tag} failed, nothing was released: {exc}") from None
    return plan
