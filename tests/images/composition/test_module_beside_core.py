"""A composed variant's module compiles beside the core, in a build of its own started once
the core's build runs a step (`build-local`), and the composed build then finds every module
step cached; a core answered from the cache starts no module build."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.building.buildlog import StepWatch, read_build_log
from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog
from llama_images.model.metadata import CORE_TARGET, MODULE_TARGET
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
    if not any(
        _ran_a_step(log) for log in logs.glob(f"build-*-{CORE_TARGET}-{composed.version}.log")
    ):
        pytest.skip(f"the core of {composed.ref} came from the cache: no module build started")
    assert module_log.is_file(), "build-local started no module build beside the core"
    stages = {stage.stage: stage for stage in read_build_log(runtime_log).stages}
    module = stages[MODULE_TARGET]
    assert module.steps_run == 0 and module.steps_cached > 0, module
    assert MODULE_TARGET in {stage.stage for stage in read_build_log(module_log).stages}


def _ran_a_step(log: Path) -> bool:
    watch = StepWatch()
    return any(watch.feed(line) for line in log.read_text(errors="replace").splitlines())


def test_a_step_watch_tells_a_cached_build_from_one_that_runs(
    engine: Engine, catalog: Catalog, tmp_path: Path
) -> None:
    base = catalog.offline.ref
    if not engine.image_exists(base):
        pytest.skip(f"no {base}: build-local makes it")
    (tmp_path / "marker").write_text(uuid.uuid4().hex)
    (tmp_path / "Dockerfile").write_text(f"FROM {base} AS step\nCOPY marker /\nRUN cat /marker\n")
    request = BuildRequest(tmp_path / "Dockerfile", tmp_path, "step", "", {}, {})
    watches = [StepWatch(), StepWatch()]
    image_ids = set()
    for watch in watches:
        with (tmp_path / "build.log").open("w") as log:
            image_ids.add(engine.build(request, log, on_line=watch.feed))
    try:
        assert [watch.ran for watch in watches] == [True, False]
    finally:
        for image_id in image_ids:
            engine.remove_image(image_id)


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
