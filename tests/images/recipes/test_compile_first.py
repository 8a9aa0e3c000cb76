"""compile.sh's COMPILE_FIRST (a recipe's `compile_first`), in the vulkan recipe's toolchain.

A small CMake project stands for ggml-vulkan: one source needs only a quick generated
header, while the target's other sources are generated slowly. Ninja would compile that
source after all of them; with COMPILE_FIRST it compiles as soon as its header exists,
and Ninja's own compile of it is then a ccache hit.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.building.builder import prepare_plan, select
from llama_images.building.plan import BUILDER_STAGE
from llama_images.model.catalog import Catalog
from llama_images.model.project import Project

SLOW_SOURCES = 4
CMAKELISTS = f"""cmake_minimum_required(VERSION 3.16)
project(first CXX)
set_property(GLOBAL PROPERTY RULE_LAUNCH_COMPILE ccache)
add_custom_command(OUTPUT ${{CMAKE_BINARY_DIR}}/first.hpp
    COMMAND ${{CMAKE_COMMAND}} -E copy ${{CMAKE_SOURCE_DIR}}/first.hpp.in first.hpp
    COMMENT "Generating first.hpp")
set(slow)
foreach(i RANGE 1 {SLOW_SOURCES})
    add_custom_command(OUTPUT ${{CMAKE_BINARY_DIR}}/slow${{i}}.cpp
        COMMAND ${{CMAKE_COMMAND}} -E sleep 2
        COMMAND ${{CMAKE_COMMAND}} -E copy ${{CMAKE_SOURCE_DIR}}/slow${{i}}.cpp.in slow${{i}}.cpp
        COMMENT "Generating slow${{i}}.cpp")
    list(APPEND slow ${{CMAKE_BINARY_DIR}}/slow${{i}}.cpp)
endforeach()
add_library(mod SHARED first.cpp ${{CMAKE_BINARY_DIR}}/first.hpp ${{slow}})
target_include_directories(mod PRIVATE ${{CMAKE_BINARY_DIR}})
"""
FIRST_SOURCE = """#include "first.hpp"
#pragma message("compiling first.cpp")
int first() { return FIRST; }
"""
FIRST_OBJECT = "CMakeFiles/mod.dir/first.cpp.o"
COMPILED = "note: '#pragma message: compiling first.cpp'"


@pytest.fixture(scope="module")
def toolchain(engine: Engine, project: Project, catalog: Catalog) -> str:
    """The vulkan recipe's toolchain stage, built from the context build-local staged."""
    chosen = project.with_settings(
        variants="vulkan", platforms="linux/amd64", base_override=catalog.offline.ref
    )
    plan = prepare_plan(chosen, select(chosen), None, dry_run=True)
    assert (plan.context / ".source-ready").is_file(), "no staged context: run build-local first"
    vulkan = next(build for build in plan.builds if build.variant == "vulkan")
    request = replace(vulkan.request, target=BUILDER_STAGE)
    return engine.build(request, io.StringIO())


@pytest.fixture
def cmake_project(tmp_path: Path) -> Path:
    source = tmp_path / "first"
    source.mkdir()
    (source / "CMakeLists.txt").write_text(CMAKELISTS)
    (source / "first.hpp.in").write_text("#define FIRST 1\n")
    (source / "first.cpp").write_text(FIRST_SOURCE)
    for i in range(1, SLOW_SOURCES + 1):
        (source / f"slow{i}.cpp.in").write_text(f"int slow{i}() {{ return {i}; }}\n")
    return source


def compile_sh(engine: Engine, image: str, source: Path, first: str) -> tuple[int, str]:
    scripts = Path(__file__).resolve().parents[3] / "base-images" / "scripts"
    script = (
        "LLAMA_BUILD_NUMBER=1 LLAMA_BUILD_COMMIT=0000000 COMPILE_FIRST=$0 "
        "sh /scripts/compile.sh /src/first /tmp/build mod 2>&1"
    )
    return engine.run(
        image,
        ["sh", "-c", script, first],
        volumes={
            str(source): {"bind": "/src/first", "mode": "ro"},
            str(scripts): {"bind": "/scripts", "mode": "ro"},
        },
    )


def test_the_object_compiles_once_its_header_exists_and_ninja_then_hits(
    engine: Engine, toolchain: str, cmake_project: Path
) -> None:
    code, output = compile_sh(engine, toolchain, cmake_project, f"{FIRST_OBJECT}:first.hpp")
    assert code == 0, output[-3000:]
    compiled = output.index(COMPILED)
    last_slow = output.rindex("Generating slow")
    assert compiled < last_slow, "first.cpp was compiled after the slow sources:\n" + output
    # Its compile beside the others missed and Ninja's own was the hit, which ccache
    # replays with the compiler's messages.
    assert output.count(COMPILED) == 2, output[-3000:]
    assert re.search(r"Hits:\s+1 /", output), output[-3000:]


def test_an_object_not_in_the_build_stops_it(
    engine: Engine, toolchain: str, cmake_project: Path
) -> None:
    code, output = compile_sh(engine, toolchain, cmake_project, "CMakeFiles/mod.dir/gone.o:x")
    assert code != 0
    assert "COMPILE_FIRST CMakeFiles/mod.dir/gone.o is not a Ninja target" in output
    assert "Generating slow" not in output
