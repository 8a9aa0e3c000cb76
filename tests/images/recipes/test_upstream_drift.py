"""diff-upstream against the pinned source: clean at the pin, our recipes agree with upstream's."""

from __future__ import annotations

from llama_images.adapters.source import fetch_source
from llama_images.commands import drift
from llama_images.model.project import Project


def test_no_drift_at_the_pin(project: Project) -> None:
    tree = fetch_source(project.pin(), project.settings.cache_path).path
    report = drift.diff_upstream(
        project.catalog(), project.devops, tree, project.base_images / "scripts" / "compile.sh"
    )
    assert not report.drifted, drift.render(report)
    recorded = drift.load_recorded(project.devops)
    assert recorded["llama_cpp"]["commit"] == project.pin().commit
