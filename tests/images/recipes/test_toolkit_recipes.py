"""The recipes that cannot be built here build until only their toolkit is missing.

Each is built on the offline Debian base from the context build-local staged for cpu and vulkan:
every stage and script call before the toolkit's first use must run, and the build must
stop exactly where the toolkit is needed, saying so.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace

import pytest

from llama_images.adapters.engine import Engine
from llama_images.building.builder import prepare_plan, select
from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog
from llama_images.model.project import Project


@dataclass(frozen=True)
class ToolkitStop:
    stage: str  # the stage whose RUN must be the one that fails
    step_text: str  # text of that RUN, naming the toolkit step
    said: str  # what the failing step must print about the missing toolkit
    cmake_ran: bool  # the compile step reached CMake (compile.sh's call is right)


# The first compile step (server-context: all but the server) configures and builds the
# backend, so a missing toolkit stops it there.
FIRST_COMPILE = "compile.sh /src/llama.cpp /src/build server-context"
STOPS = {
    "musa": ToolkitStop("build", FIRST_COMPILE, "MUSA", True),
    # The Level Zero loader is fetched from GitHub, which is the toolkit's source.
    "intel": ToolkitStop("builder-fromsource", "level-zero", "level-zero", False),
    # ZenDNN's CMake clones ZenDNN from GitHub while building.
    "zendnn": ToolkitStop(
        "build", FIRST_COMPILE, "Performing download step (git clone) for 'zendnn'", True
    ),
}
FAILED_STEP = re.compile(r"^\s*> \[(?P<stage>[\w-]+)\s+\d+/\d+\] (?P<text>RUN .*)$", re.MULTILINE)


def test_every_vendor_recipe_has_a_stop(catalog: Catalog) -> None:
    vendor = {n for n, v in catalog.variants.items() if v.recipe.clear_entrypoint}
    # Built offline (cuda, rocm), cuda's recipe (cuda13), or an RPM base (cann).
    not_here = {"cuda", "cuda13", "rocm", "cann"}
    assert vendor - not_here <= set(STOPS)


@pytest.mark.parametrize("name", sorted(STOPS))
def test_recipe_builds_until_its_toolkit(
    name: str, engine: Engine, project: Project, catalog: Catalog
) -> None:
    stop = STOPS[name]
    offline = catalog.offline.ref
    chosen = project.with_settings(
        variants=name, platforms="linux/amd64", base_override=offline, targets="runtime"
    )
    plan = prepare_plan(chosen, select(chosen), None, dry_run=True)
    # The context build-local staged for the images under test (source and scripts); the
    # `build` target needs no version.json, and re-staging would remove the others'.
    assert (plan.context / ".source-ready").is_file(), "no staged context: run build-local first"
    request = replace(plan.builds[0].request, target="build")
    log = io.StringIO()
    with pytest.raises(ProjectError, match=f"build of target build from {name}.Dockerfile"):
        engine.build(request, log)
    output = log.getvalue()
    failed = FAILED_STEP.findall(output)
    assert failed, output[-2000:]
    stage, text = failed[-1]
    assert stage == stop.stage, text
    assert stop.step_text in text
    assert stop.said in output, output[-3000:]
    assert ("-- The C compiler identification" in output) == stop.cmake_ran
