"""The only code that runs git."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from llama_images.errors import ProjectError
from llama_images.model.version import CommitFacts

GIT = "git"
# Remote schemes whose host also serves the repository's web page over https.
NETWORK_SCHEMES = {"https", "http", "ssh", "git", "git+ssh", "ssh+git"}
# git's scp-like syntax, [user@]host:path: a colon before any slash.
SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]+):(?P<path>.+)$")


class GitMissing(ProjectError):
    """git itself cannot be run."""


class GitFailed(ProjectError):
    """git ran and refused; `reason` is git's own message."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def git_reason(stderr: str) -> str:
    """git's own reason: its first fatal/error line, not the advice printed after it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (reasons or lines or ["no message"])[0]


def run_git(repo: Path, *args: str, timeout: float = 120) -> str:
    """Runs git in `repo` and returns its stripped standard output."""
    try:
        done = subprocess.run(
            [GIT, "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise GitMissing(
            f"git is not on PATH ({GIT} not found): install it (apt-get install git)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ProjectError(f"git {' '.join(args)} took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        reason = git_reason(done.stderr)
        raise GitFailed(f"git {' '.join(args)} failed in {repo}: {reason}", reason)
    return done.stdout.strip()


def toplevel(path: Path) -> Path:
    """The root of the git work tree holding `path`."""
    try:
        return Path(run_git(path, "rev-parse", "--show-toplevel"))
    except GitFailed as exc:
        if "dubious ownership" in exc.reason:
            raise ProjectError(
                f"git refuses {path}, which another user owns ({exc.reason}): run as its owner, "
                f"or trust it with git config --global --add safe.directory {path}"
            ) from None
        if "not a git repository" in exc.reason:
            raise ProjectError(
                f"{path} is not a git repository ({exc.reason}): versions come from git, "
                "so run from a clone"
            ) from None
        raise ProjectError(f"git cannot read {path}: {exc.reason}") from None


def commit_facts(repo: Path) -> CommitFacts:
    """Hash, committer time, branch and dirtiness of HEAD."""
    root = toplevel(repo)
    try:
        sha = run_git(root, "rev-parse", "--verify", "HEAD^{commit}")
    except GitFailed:
        raise ProjectError(
            f"{root} has no commit yet: commit first, versions name a commit"
        ) from None
    timestamp = int(run_git(root, "show", "-s", "--format=%ct", sha))
    branch = run_git(root, "rev-parse", "--abbrev-ref", "HEAD")
    status = run_git(root, "status", "--porcelain", "--untracked-files=normal")
    return CommitFacts(
        sha=sha,
        timestamp=timestamp,
        branch=None if branch == "HEAD" else branch,
        dirty=bool(status),
    )


def remote_url(repo: Path, remote: str = "origin") -> str | None:
    """The URL of a remote, or None when it is not configured."""
    try:
        return run_git(repo, "remote", "get-url", remote) or None
    except ProjectError:
        return None


def web_address(remote: str) -> str | None:
    """The https address of a remote's repository, without credentials or `.git`.

    None for a local path or a file:// remote: those name no place on the web.
    """
    remote = remote.strip()
    if "://" in remote:
        host_and_path = _url_host_and_path(urlsplit(remote))
    elif match := SCP_LIKE.match(remote):
        host_and_path = (match["host"].lower(), match["path"])
    else:
        host_and_path = None
    if host_and_path is None:
        return None
    host, path = host_and_path
    path = path.strip("/").removesuffix(".git")
    return f"https://{host}/{path}" if path else None


def _url_host_and_path(url: SplitResult) -> tuple[str, str] | None:
    if url.scheme.lower() not in NETWORK_SCHEMES or not url.hostname:
        return None
    try:
        port = url.port
    except ValueError:
        return None
    # An ssh or git port says nothing about where the web server listens.
    keeps_port = port is not None and url.scheme.lower() in {"https", "http"}
    return (f"{url.hostname}:{port}" if keeps_port else url.hostname), url.path


def clone_tag(url: str, tag: str, dest: Path, timeout: float) -> str:
    """Shallow-clones one tag into `dest` and returns the commit it checked out."""
    try:
        subprocess.run(
            [GIT, "clone", "--quiet", "--depth", "1", "--branch", tag, url, str(dest)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
    except FileNotFoundError:
        raise GitMissing(f"git is not on PATH ({GIT} not found): install it") from None
    except subprocess.TimeoutExpired:
        raise ProjectError(f"git clone of {url} took more than {timeout:.0f} s") from None
    except subprocess.CalledProcessError as exc:
        detail = git_reason(exc.stderr)
        raise ProjectError(f"git clone of {url} at {tag} failed: {detail}") from None
    return run_git(dest, "rev-parse", "HEAD")


def tags_matching(repo: Path, pattern: str) -> list[str]:
    """Local tags matching a glob pattern."""
    listed = run_git(repo, "tag", "--list", pattern)
    return [line for line in listed.splitlines() if line]


def remote_branch_head(repo: Path, remote: str, branch: str) -> str | None:
    """The commit a remote's branch points at (asks the remote), or None if it has none."""
    listed = run_git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}")
    return listed.split()[0] if listed else None


def remote_has_tag(repo: Path, remote: str, tag: str) -> bool:
    return bool(run_git(repo, "ls-remote", "--tags", remote, f"refs/tags/{tag}"))


def local_has_tag(repo: Path, tag: str) -> bool:
    return bool(run_git(repo, "tag", "--list", tag))


def create_annotated_tag(repo: Path, tag: str, message: str) -> None:
    run_git(repo, "tag", "--annotate", tag, "--message", message)


def delete_local_tag(repo: Path, tag: str) -> None:
    run_git(repo, "tag", "--delete", tag)


def push_tag(repo: Path, remote: str, tag: str) -> None:
    # Pushing the exact ref, never with --force: an existing remote tag is never moved.
    run_git(repo, "push", "--quiet", remote, f"refs/tags/{tag}:refs/tags/{tag}")


@contextlib.contextmanager
def scratch_worktree(repo: Path, path: Path) -> Iterator[Path]:
    """A detached work tree of HEAD at `path`, removed when the block ends."""
    run_git(repo, "worktree", "add", "--detach", "--force", str(path), "HEAD")
    try:
        yield path
    finally:
        run_git(repo, "worktree", "remove", "--force", str(path))
