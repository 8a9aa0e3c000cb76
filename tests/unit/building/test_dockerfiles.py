"""Static checks of every variant's Dockerfile, and of the Dockerfile reader itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.building.bases import ResolvedBases
from llama_images.building.dockerfile import check_dockerfile, cmake_flags_in, parse_dockerfile
from llama_images.errors import ProjectError
from llama_images.model.catalog import load_catalog, toolchain, toolkit_version
from llama_images.model.metadata import MODULE_TARGET, min_driver, project_label
from tests.unit.conftest import REPO_ROOT, plan_of

CATALOG = load_catalog(REPO_ROOT / "base-images")
VARIANTS = sorted(CATALOG.variants)


@pytest.mark.parametrize("name", VARIANTS)
def test_dockerfile_passes_static_checks(name: str) -> None:
    dockerfile = parse_dockerfile(CATALOG.variants[name].dockerfile)
    assert check_dockerfile(dockerfile) == []
    variant = CATALOG.variants[name]
    assert dockerfile.stage_names()[-2 - len(variant.flavours) :] == [
        "runtime",
        "server",
        *variant.flavours,
    ]
    assert "build" in dockerfile.stage_names()


@pytest.mark.parametrize("name", [n for n in VARIANTS if CATALOG.variants[n].composition.core])
def test_composed_dockerfile_builds_only_its_module_against_a_core(name: str) -> None:
    """The core stage (own or the cpu variant's) and the module share one toolchain; the
    module compiles in a stage of its own that needs no core, and composing follows it."""
    dockerfile = parse_dockerfile(CATALOG.variants[name].dockerfile)
    stages = {s.name: s for s in dockerfile.stages}
    assert dockerfile.global_args["CORE_IMAGE"] == "core-own"
    assert stages["core"].base == "${CORE_IMAGE}"
    assert stages["core-build"].base == stages[MODULE_TARGET].base == "builder"
    assert stages["builder"].base == "${BUILDER_IMAGE}"
    assert stages["build"].base == MODULE_TARGET
    cpu = parse_dockerfile(CATALOG.variants["cpu"].dockerfile)
    own_core = cmake_flags_in(stages["core-build"].run_text())
    assert own_core == cmake_flags_in(cpu.stage("build").run_text())
    module = cmake_flags_in(stages[MODULE_TARGET].run_text())
    extra = set(CATALOG.variants[name].extra_cmake_flags)
    backend = {k: v for k, v in module.items() if k not in own_core and k not in extra}
    assert set(backend) - {"CMAKE_EXE_LINKER_FLAGS", "CMAKE_CUDA_ARCHITECTURES"} == {
        f"GGML_{CATALOG.variants[name].backend_modules[0].removeprefix('libggml-').removesuffix('.so').upper()}"
    }
    assert "compile.sh /src/llama.cpp /src/build ggml-" in stages[MODULE_TARGET].run_text()
    assert "--from=core" not in "\n".join(i.value for i in stages[MODULE_TARGET].instructions)
    assert "compose.sh" in stages["build"].run_text()
    assert "compile.sh" not in stages["build"].run_text()


@pytest.mark.parametrize("name", VARIANTS)
def test_toolchain_stage_is_the_prebuilt_builder(name: str) -> None:
    dockerfile = parse_dockerfile(CATALOG.variants[name].dockerfile)
    if "builder-fromsource" not in dockerfile.stage_names():
        assert not CATALOG.variants[name].composition.core
        return
    assert dockerfile.global_args["BUILDER_IMAGE"] == "builder-fromsource"
    assert dockerfile.global_args["CCACHE_SEED"] == "ccache-empty"
    text = dockerfile.stage("builder-fromsource").run_text()
    assert "llama.cpp" not in text  # the toolchain does not depend on the source


@pytest.mark.parametrize("name", VARIANTS)
def test_dockerfile_builds_a_backend_with_upstream_core_flags(name: str) -> None:
    flags = parse_dockerfile(CATALOG.variants[name].dockerfile).cmake_flags()
    assert flags.get("GGML_BACKEND_DL") == "ON"
    assert flags.get("LLAMA_BUILD_TESTS") == "OFF"


@pytest.mark.parametrize("name", VARIANTS)
def test_dockerfile_keeps_the_repository_rules(name: str) -> None:
    text = CATALOG.variants[name].dockerfile.read_text()
    assert "|| true" not in text
    assert "# syntax=" not in text
    dockerfile = parse_dockerfile(CATALOG.variants[name].dockerfile)
    for stage in dockerfile.stages:
        if stage.name != "media":
            assert "ffmpeg" not in stage.run_text()
    assert "--mount=type=cache,id=llama-images-ccache" in text
    server = parse_dockerfile(CATALOG.variants[name].dockerfile).stage("server")
    keywords = [i.keyword for i in server.instructions]
    assert {"USER", "HEALTHCHECK", "ENTRYPOINT"} <= set(keywords)


@pytest.mark.parametrize("name", VARIANTS)
def test_plan_renders_for_every_variant_and_profile(name: str) -> None:
    variant = CATALOG.variants[name]
    profiles = ["upstream"] + (["offline"] if variant.offline.supported else [])
    for profile in profiles:
        bases = (
            ResolvedBases(variant.bases.build, variant.bases.runtime, profile)
            if profile == "upstream"
            else ResolvedBases(
                CATALOG.offline.for_variant(variant.offline).ref,
                CATALOG.offline.for_variant(variant.offline).ref,
                profile,
            )
        )
        plan = plan_of([name], (variant.platforms[0],), bases={name: bases})
        runtime = next(b for b in plan.builds if (b.variant, b.target) == (name, "runtime"))
        recipe = parse_dockerfile(variant.dockerfile)
        declared = set(recipe.global_args).union(*(s.args() for s in recipe.stages))
        assert set(runtime.request.build_args) - declared == set()
        labels = runtime.request.labels
        assert labels[project_label("variant")] == name
        assert labels[project_label("toolkit.version")] == toolkit_version(variant, profile)


def test_cuda_labels_name_toolkit_and_driver() -> None:
    assert toolkit_version(CATALOG.variants["cuda"], "upstream") == "12.8.1"
    assert toolkit_version(CATALOG.variants["cuda"], "offline") == "12.4.1"
    assert toolkit_version(CATALOG.variants["cuda13"], "upstream") == "13.3.0"
    assert min_driver("cuda", "12.4.1") == "525"
    assert min_driver("cuda", "13.3.0") == "580"
    assert min_driver("", "") == ""
    assert toolchain(CATALOG.variants["cuda"], "offline") == "gcc-14 (core), gcc-13 (nvcc host)"
    assert toolchain(CATALOG.variants["cuda"], "upstream") == "gcc-14"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_arg_used_in_a_later_stage_without_redeclaring_it(tmp_path: Path) -> None:
    dockerfile = parse_dockerfile(
        write(
            tmp_path / "x.Dockerfile",
            """\
ARG BASE=debian:trixie
ARG APP_VERSION=N/A
FROM ${BASE} AS build
ARG APP_VERSION
RUN echo "$APP_VERSION"
FROM ${BASE} AS final
LABEL org.opencontainers.image.version=$APP_VERSION
RUN echo "$APP_VERSION $TARGETARCH $HOME"
""",
        )
    )
    problems = check_dockerfile(dockerfile)
    assert any(":7: LABEL uses $APP_VERSION" in p for p in problems), problems
    assert any(":8: RUN uses $APP_VERSION" in p for p in problems), problems
    assert any(":8: RUN uses $TARGETARCH" in p for p in problems), problems
    assert not any("$HOME" in p for p in problems), problems


def test_copy_from_a_stage_that_does_not_exist(tmp_path: Path) -> None:
    dockerfile = parse_dockerfile(
        write(
            tmp_path / "x.Dockerfile",
            """\
FROM debian:trixie AS build
RUN true
FROM debian:trixie
COPY --from=biuld /out /app
COPY --from=build /out /app
COPY --from=docker.io/library/busybox:1 /bin/busybox /bin/
""",
        )
    )
    assert check_dockerfile(dockerfile) == [
        "x.Dockerfile:4: COPY --from=biuld names no earlier stage"
    ]


def test_env_of_a_parent_stage_is_inherited(tmp_path: Path) -> None:
    dockerfile = parse_dockerfile(
        write(
            tmp_path / "x.Dockerfile",
            """\
FROM debian:trixie AS base
ENV TOOL_HOME=/opt/tool
FROM base AS child
WORKDIR ${TOOL_HOME}
""",
        )
    )
    assert check_dockerfile(dockerfile) == []


def test_reader_facts(tmp_path: Path) -> None:
    dockerfile = parse_dockerfile(
        write(
            tmp_path / "x.Dockerfile",
            """\
ARG UBUNTU_VERSION=24.04
ARG IMAGE=docker.io/ubuntu:${UBUNTU_VERSION}
# a comment
FROM ${IMAGE} AS build
ARG ARCH=default
RUN apt-get update && \\
    apt-get install -y gcc-14 cmake \\
    # comments inside continuations are dropped
    libssl-dev && \\
    cmake -B build -DGGML_NATIVE=OFF -DGGML_CUDA=ON "-DX=${ARCH}";
FROM ${IMAGE} AS base
RUN apt-get install -y libgomp1 curl
""",
        )
    )
    assert dockerfile.resolved_bases() == {
        "build": "docker.io/ubuntu:24.04",
        "base": "docker.io/ubuntu:24.04",
    }
    assert dockerfile.cmake_flags() == {"GGML_NATIVE": "OFF", "GGML_CUDA": "ON", "X": "${ARCH}"}
    assert dockerfile.packages("build") == {"gcc-14", "cmake", "libssl-dev"}
    assert dockerfile.packages("base") == {"libgomp1", "curl"}
    assert dockerfile.stage("build").args() == {"ARCH": "default"}


def test_not_a_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="before the first FROM"):
        parse_dockerfile(write(tmp_path / "x.Dockerfile", "RUN true\n"))
