"""A composed variant's module compiles beside the core, in a build of its own started with
the core's (`build-local`), and the composed build then finds every module step cached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.building.buildlog import read_build_log
from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog
from llama_images.model.metadata import MODULE_TARGET
from llama_images.model.project import Project
from llama_images.testing.servers import ImageUnderTest

STEP_STARTED_TIMEOUT = 120.0


def test_composed_build_never_compiles_its_module(
    composed: ImageUnderTest, project: Project
) -> None:
    logs = project.settings.cache_path / "logs"
    module_log = logs / f"build-{composed.variant}-{MODULE_TARGET}-{composed.version}.log"
    runtime_log = logs / f"build-{composed.variant}-runtime-{composed.version}.log"
    if not runtime_log.is_file():
        pytest.skip(f"{composed.ref} was not built here: no {runtime_log.name}")
    assert module_log.is_file(), "build-local started no module build beside the core"
    stages = {stage.stage: stage for stage in read_build_log(runtime_log).stages}
    module = stages[MODULE_TARGET]
    assert module.steps_run == 0 and module.steps_cached > 0, module
    assert MODULE_TARGET in {stage.stage for stage in read_build_log(module_log).stages}


def _request(tmp_path: Path, base: str, run: str) -> BuildRequest:
    (tmp_path / "Dockerfile").write_text(f"FROM {base} AS step\nRUN {run}\n")
    return BuildRequest(tmp_path / "Dockerfile", tmp_path, "step", "", {}, {}, no_cache=True)


def test_a_background_build_stops_and_reports_its_failure(
    engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    base = catalog.offline.ref
    if not engine.image_exists(base):
        pytest.skip(f"no {base}: build-local makes it")
    running = engine.start_build(
        _request(tmp_path, base, "echo step-started && sleep 600"), tmp_path / "running.log"
    )
    deadline = time.monotonic() + STEP_STARTED_TIMEOUT
    while "step-started" not in (tmp_path / "running.log").read_text():
        assert running.process.poll() is None, (tmp_path / "running.log").read_text()
        assert time.monotonic() < deadline, "the background build never started its step"
        time.sleep(0.5)
    running.stop()
    assert running.process.returncode is not None

    failing = engine.start_build(
        _request(tmp_path, base, "echo broken-step && exit 3"),
        tmp_path / "failing.log",
    )
    with pytest.raises(ProjectError, match=r"build of target step from Dockerfile .*failed"):
        failing.finish()
