"""Release versions: `yymmddhhmm-githash`, from the HEAD commit's time in UTC.

Pure: commit facts in, versions and tags out. The facts come from
`llama_images.gitinfo`; nothing here reads the clock or runs git.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from llama_images.errors import ProjectError

TAG_PREFIX = "base-images/v"
STAMP_FORMAT = "%y%m%d%H%M"
SHORT_HASH_LENGTH = 7
_VERSION_RE = re.compile(r"^(?P<stamp>[0-9]{10})-(?P<hash>[0-9a-f]{7})$")
_SHA_RE = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True)
class CommitFacts:
    """What git says about the commit an image is built from."""

    sha: str
    timestamp: int  # committer time, seconds since the epoch
    branch: str | None  # None when HEAD is detached
    dirty: bool

    @property
    def created(self) -> str:
        """The commit time in RFC 3339, UTC."""
        return rfc3339(self.timestamp)


@dataclass(frozen=True, order=True)
class BuildVersion:
    """A release version; ordering is by commit time, then hash."""

    stamp: str
    short_hash: str

    def __str__(self) -> str:
        return f"{self.stamp}-{self.short_hash}"

    @property
    def tag(self) -> str:
        """The git tag a release of this version creates."""
        return f"{TAG_PREFIX}{self}"

    @property
    def moment(self) -> datetime:
        return datetime.strptime(self.stamp, STAMP_FORMAT).replace(tzinfo=UTC)

    @classmethod
    def parse(cls, text: str) -> BuildVersion:
        """Parses `yymmddhhmm-githash`; anything else is a ProjectError."""
        match = _VERSION_RE.match(text)
        if match is None:
            raise ProjectError(
                f"malformed version {text!r}: expected yymmddhhmm-githash "
                f"(10 digits, a dash, {SHORT_HASH_LENGTH} lowercase hex digits)"
            )
        stamp = match["stamp"]
        try:
            datetime.strptime(stamp, STAMP_FORMAT)
        except ValueError:
            raise ProjectError(
                f"malformed version {text!r}: {stamp} is not a valid yymmddhhmm time"
            ) from None
        return cls(stamp=stamp, short_hash=match["hash"])

    @classmethod
    def from_tag(cls, tag: str) -> BuildVersion:
        """Parses a release tag `base-images/v<version>`."""
        if not tag.startswith(TAG_PREFIX):
            raise ProjectError(f"malformed release tag {tag!r}: expected {TAG_PREFIX}<version>")
        return cls.parse(tag.removeprefix(TAG_PREFIX))


def rfc3339(timestamp: int) -> str:
    """Seconds since the epoch as RFC 3339 in UTC, e.g. 2026-11-22T03:12:44Z."""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_for(commit: CommitFacts) -> BuildVersion:
    """The version of a commit: its committer time in UTC and its short hash."""
    if not _SHA_RE.match(commit.sha):
        raise ProjectError(f"malformed commit hash {commit.sha!r}")
    stamp = datetime.fromtimestamp(commit.timestamp, tz=UTC).strftime(STAMP_FORMAT)
    return BuildVersion(stamp=stamp, short_hash=commit.sha[:SHORT_HASH_LENGTH])


def newest(versions: list[BuildVersion]) -> BuildVersion | None:
    return max(versions, default=None)
