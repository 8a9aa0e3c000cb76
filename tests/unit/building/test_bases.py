"""Offline bases: one per debootstrapped suite, apt told when a suite's Release is expired."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from llama_images.adapters.engine import Engine
from llama_images.building.bases import BaseResolver, ResolvedBases, accept_expired_release
from llama_images.errors import ProjectError
from tests.unit.conftest import CATALOG


def test_a_variant_with_a_suite_of_its_own_builds_and_runs_on_that_suites_base() -> None:
    resolver = BaseResolver(cast(Engine, object()), CATALOG.offline, "offline", dry_run=True)
    own = CATALOG.offline.for_variant(CATALOG.variants["rocm"].offline)
    assert own.suite != CATALOG.offline.suite
    assert own.image == CATALOG.offline.image
    assert resolver.resolve(CATALOG.variants["rocm"]) == ResolvedBases(own.ref, own.ref, "offline")
    shared = CATALOG.offline.ref
    assert resolver.resolve(CATALOG.variants["cuda"]) == ResolvedBases(shared, shared, "offline")


class NoRegistry:
    """An engine that has no image and reaches no registry."""

    def image_exists(self, ref: str) -> bool:
        return False

    def registry_serves(self, ref: str) -> bool:
        return False

    def try_pull(self, ref: str) -> bool:
        return False


def test_a_dry_run_in_upstream_mode_plans_on_unreachable_bases_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    vulkan = CATALOG.variants["vulkan"]
    resolver = BaseResolver(cast(Engine, NoRegistry()), CATALOG.offline, "upstream", dry_run=True)
    resolved = resolver.resolve(vulkan)
    assert resolved == ResolvedBases(vulkan.bases.build, vulkan.bases.runtime, "upstream")
    assert "not reachable from here; a real run would stop" in capsys.readouterr().err


def test_a_real_run_in_upstream_mode_stops_on_unreachable_bases() -> None:
    resolver = BaseResolver(cast(Engine, NoRegistry()), CATALOG.offline, "upstream")
    with pytest.raises(ProjectError, match="cannot be pulled"):
        resolver.resolve(CATALOG.variants["cpu"])


def test_an_expired_suite_is_marked_on_every_source_line(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "deb http://mirror/debian unstable main contrib\n"
        "# deb http://mirror/debian trixie main\n"
        "deb [arch=amd64] http://mirror/debian unstable non-free\n"
        "deb-src http://mirror/debian unstable main\n"
    )
    accept_expired_release(sources)
    assert sources.read_text() == (
        "deb [check-valid-until=no] http://mirror/debian unstable main contrib\n"
        "# deb http://mirror/debian trixie main\n"
        "deb [arch=amd64 check-valid-until=no] http://mirror/debian unstable non-free\n"
        "deb-src [check-valid-until=no] http://mirror/debian unstable main\n"
    )
