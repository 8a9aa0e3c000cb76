from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from llama_images.adapters import gitinfo
from llama_images.errors import ProjectError
from llama_images.model.version import BuildVersion, CommitFacts, rfc3339, version_for
from tests.unit.conftest import git


def test_version_uses_commit_time_in_utc(scratch_repo: Callable[[str], Path]) -> None:
    # 23:30 at UTC-5 is 04:30 the next day in UTC.
    repo = scratch_repo("2026-03-14T23:30:00-05:00")
    facts = gitinfo.commit_facts(repo)
    version = version_for(facts)
    assert version.stamp == "2603150430"
    assert version.short_hash == facts.sha[:7]
    assert str(version) == f"2603150430-{facts.sha[:7]}"
    assert version.tag == f"base-images/v2603150430-{facts.sha[:7]}"
    assert facts.created == "2026-03-15T04:30:00Z"
    assert facts.branch == "main"
    assert facts.dirty is False


def test_dirty_tree_is_detected(scratch_repo: Callable[[str], Path]) -> None:
    repo = scratch_repo("2026-01-01T00:00:00Z")
    (repo / "README").write_text("changed\n")
    assert gitinfo.commit_facts(repo).dirty is True


def test_detached_head_has_no_branch(scratch_repo: Callable[[str], Path]) -> None:
    repo = scratch_repo("2026-01-01T00:00:00Z")
    git(repo, "checkout", "--quiet", "--detach")
    assert gitinfo.commit_facts(repo).branch is None


def test_not_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="is not a git repository"):
        gitinfo.commit_facts(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2603150430",
        "2603150430-ABCDEF1",
        "2603150430-abcdef",
        "26031504301-abcdef1",
        "2613150430-abcdef1",
        "2603320430-abcdef1",
        "2603152430-abcdef1",
        "v2603150430-abcdef1",
        "2603150430_abcdef1",
        "2603150430-abcdef1 ",
    ],
)
def test_malformed_versions_are_rejected(text: str) -> None:
    with pytest.raises(ProjectError, match="malformed version"):
        BuildVersion.parse(text)


def test_parse_round_trip_and_tag() -> None:
    version = BuildVersion.parse("2611220312-0a1b2c3")
    assert str(version) == "2611220312-0a1b2c3"
    assert BuildVersion.from_tag("base-images/v2611220312-0a1b2c3") == version
    with pytest.raises(ProjectError, match="malformed release tag"):
        BuildVersion.from_tag("v2611220312-0a1b2c3")


def test_versions_order_by_time_then_hash() -> None:
    texts = ["2612010000-fffffff", "2611302359-0000000", "2701010000-aaaaaaa", "2611302359-1111111"]
    ordered = sorted(BuildVersion.parse(t) for t in texts)
    assert [str(v) for v in ordered] == [
        "2611302359-0000000",
        "2611302359-1111111",
        "2612010000-fffffff",
        "2701010000-aaaaaaa",
    ]


def test_version_for_rejects_bad_hash() -> None:
    with pytest.raises(ProjectError, match="malformed commit hash"):
        version_for(CommitFacts(sha="not-a-hash", timestamp=0, branch=None, dirty=False))


def test_rfc3339_is_utc() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
