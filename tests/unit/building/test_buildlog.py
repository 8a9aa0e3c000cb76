"""Seconds per stage from BuildKit's plain progress output: excerpts of real build logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.building.buildlog import (
    EXPORT,
    INTERNAL,
    ONLY_STAGE,
    StageTime,
    StepWatch,
    parse_build_log,
    read_build_log,
    short_step,
)
from llama_images.errors import ProjectError

APT = (
    "RUN --mount=type=cache,id=llama-images-apt-archives,target=/var/cache/apt,sharing=locked"
    "     --mount=type=cache,id=llama-images-apt-lists,target=/var/lib/apt/lists,sharing=locked"
    "     /usr/local/lib/llama-base-images/apt-install.sh"
)
COMPILE = (
    "RUN --mount=type=cache,id=llama-images-ccache,target=/root/.cache/ccache"
    "     --mount=type=bind,from=ccache-seed,target=/ccache-seed"
    "     : \"${TRIPLE:?is not set: pass --build-arg TRIPLE (the platform's triple, as build-local"
    ' does)}" &&     set -- &&     /usr/local/lib/llama-base-images/compile.sh /src/llama.cpp'
    " /src/build llama-server         -DGGML_NATIVE=OFF         -DLLAMA_BUILD_TESTS=OFF"
)
NPM_CI = (
    "RUN --mount=type=bind,source=npm-cache,target=/npm-cache,rw"
    "     npm ci --offline --cache /npm-cache --no-audit --no-fund"
)

# The cpu core's cold build: the web stage's steps run while the toolchain installs.
COLD_CORE = f"""\
#1 [internal] load build definition from cpu.Dockerfile
#1 transferring dockerfile: 5.97kB done
#1 DONE 0.0s

#4 [web 1/8] FROM docker.io/llama-images/debian:trixie
#4 DONE 0.0s

#5 [internal] load build context
#5 transferring context: 330.37MB 2.6s done
#5 DONE 2.6s

#7 [builder-fromsource 3/3] {APT}         gcc-14 g++-14 build-essential git cmake
#7 sha256:6174b285c8dd9260b3553c5e2d1908cd12fa1766cb70ee9558eb05818be31dc2
#7 ...

#10 [web 3/8] {APT}         nodejs npm
#10 1.451 Fetched 16.6 MB in 1s (14.3 MB/s)
#10 29.37 done.
#10 DONE 29.9s

#13 [web 6/8] {NPM_CI}
#13 ...

#7 [builder-fromsource 3/3] {APT}         gcc-14 g++-14 build-essential git cmake
#7 30.35 Fetched 140 kB in 0s (3540 kB/s)
#7 ...

#13 [web 6/8] {NPM_CI}
#13 10.36 npm WARN deprecated mdast@3.0.0: `mdast` was renamed to `remark`
#13 ...

#7 [builder-fromsource 3/3] {APT}         gcc-14 g++-14 build-essential git cmake
#7 47.52 update-alternatives: using /usr/bin/g++ to provide /usr/bin/c++ (c++) in auto mode
#7 DONE 48.7s

#8 [build 1/6] COPY base-images/scripts/compile.sh /usr/local/lib/llama-base-images/
#8 DONE 0.0s

#13 [web 6/8] {NPM_CI}
#13 21.63 > llama-ui@1.0.0 prepare
#13 DONE 23.6s

#17 [build 4/6] {COMPILE}
#17 DONE 625.6s

#21 exporting to image
#21 exporting layers 0.1s done
#21 writing image sha256:889a13eabd80c314d52576661324e93b75b1f1ca3ae15f5fec3daaabdf1b3a6a done
#21 DONE 0.1s
"""

# The cpu server right after: every step answered from the cache.
CACHED_SERVER = f"""\
#2 [internal] load .dockerignore
#2 DONE 0.0s
#4 [runtime 1/5] FROM docker.io/llama-images/debian:trixie
#4 DONE 0.0s
#5 [internal] load build context
#5 DONE 0.3s
#16 [web 8/8] RUN LLAMA_BUILD_NUMBER="10454" npm run build && test -f dist/index.html
#16 sha256:3bb82da421a4d1e2aa72efcdd4a6cac38d7e6e09533cd8828916025e55a8de05
#16 CACHED
#18 [build 4/6] {COMPILE}
#18 sha256:fc158f42e8aa5fd96387661e82dbb3a10fccea28f02fb7af49d16a67fcec1530
#18 CACHED
#6 [runtime 2/5] COPY base-images/scripts/apt-install.sh /usr/local/lib/llama-base-images/
#6 sha256:75e08c4aca9b946e58245068f085f4a82d17177ed4bdeb694a3c5b9ba10d5e18
#6 CACHED
#25 [server 3/3] WORKDIR /home/llama
#25 CACHED
#26 exporting to image
#26 exporting layers done
#26 DONE 0.0s
"""

# A vulkan build whose last step failed.
FAILED = """\
#17 [runtime 4/5] COPY --from=build /out/app/ /app/
#17 CACHED
#18 [runtime 5/5] COPY meta/vulkan/linux-amd64/version.json /app/version.json
#18 sha256:111eb3edf23b129fc872a3a4af43cac0b8dd9988f1e0e93822e9622f07993c56
#18 0.012 copying
#18 ERROR: "/meta/vulkan/linux-amd64/version.json" not found: not found
------
 > [runtime 5/5] COPY meta/vulkan/linux-amd64/version.json /app/version.json:
------
"""


def test_interleaved_steps_are_added_to_their_own_stages() -> None:
    log = parse_build_log(COLD_CORE)
    assert [s.stage for s in log.stages] == [INTERNAL, "web", "builder-fromsource", "build", EXPORT]
    internal, web, toolchain, build, export = log.stages
    assert internal == StageTime(INTERNAL, 2.6, 2, 0, "load build context", 2.6)
    assert web == StageTime(
        "web", 53.5, 3, 0, "3/8 RUN apt-install.sh nodejs npm", 29.9
    )  # 0.0 + 29.9 + 23.6
    assert toolchain.seconds == 48.7 and toolchain.steps_run == 1
    assert toolchain.longest_step.startswith("3/3 RUN apt-install.sh gcc-14 g++-14")
    assert build.seconds == 625.6 and build.steps_run == 2
    assert build.longest_step == "4/6 RUN compile.sh /src/llama.cpp /src/build llama-server -…"
    assert export == StageTime(EXPORT, 0.1, 1, 0, "exporting to image", 0.1)
    assert log.total_steps_seconds == pytest.approx(2.6 + 53.5 + 48.7 + 625.6 + 0.1)
    assert log.longest == build


def test_a_cached_stage_counts_its_steps_and_no_seconds() -> None:
    log = parse_build_log(CACHED_SERVER)
    stages = {s.stage: s for s in log.stages}
    assert list(stages) == [INTERNAL, "runtime", "web", "build", "server", EXPORT]
    assert stages["web"] == StageTime("web", 0.0, 0, 1, "", 0.0)
    assert stages["build"].steps_cached == 1 and stages["build"].steps_run == 0
    # BuildKit reports the base image as a step done in no time, even on a cached build.
    assert (stages["runtime"].steps_run, stages["runtime"].steps_cached) == (1, 1)
    assert log.total_steps_seconds == pytest.approx(0.3)


def test_a_failed_step_counts_as_run_for_as_long_as_it_printed() -> None:
    (runtime,) = parse_build_log(FAILED).stages
    assert (runtime.steps_run, runtime.steps_cached) == (1, 1)
    assert runtime.longest_step.startswith("5/5 COPY meta/vulkan/linux-amd64/version.json")
    assert runtime.longest_seconds == 0.012


def test_an_unfinished_step_is_left_out() -> None:
    log = parse_build_log(COLD_CORE.split("#7 DONE")[0])
    assert "builder-fromsource" not in [s.stage for s in log.stages]
    assert parse_build_log("").stages == ()
    assert parse_build_log("").longest is None


@pytest.mark.parametrize(
    ("index", "instruction", "short"),
    [
        ("2/9", "RUN apt update && apt install -y git", "2/9 RUN apt update && apt install -y git"),
        (
            "1/2",
            "COPY --from=build /app/full/llama /app",
            "1/2 COPY --from=build /app/full/llama /app",
        ),
        ("3/3", "RUN set -e && /x/y.sh a", "3/3 RUN y.sh a"),
        ("1/1", "RUN", "1/1 RUN"),
    ],
)
def test_short_step(index: str, instruction: str, short: str) -> None:
    assert short_step(index, instruction) == short


def test_a_missing_log_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"cannot read the build log \S+/absent\.log"):
        read_build_log(tmp_path / "absent.log")
    (tmp_path / "core.log").write_text(CACHED_SERVER)
    assert read_build_log(tmp_path / "core.log") == parse_build_log(CACHED_SERVER)


def test_a_step_of_a_dockerfile_of_one_stage_counts_in_a_stage_of_its_own() -> None:
    (stage,) = parse_build_log("#6 [2/3] COPY a b\n#6 DONE 1.5s\n").stages
    assert (stage.stage, stage.seconds, stage.steps_run) == (ONLY_STAGE, 1.5, 1)


def _first_running_line(log: str) -> str | None:
    watch = StepWatch()
    return next((line for line in log.splitlines() if watch.feed(line)), None)


def test_a_step_watch_sees_the_first_step_that_runs() -> None:
    # The base's FROM ends DONE, and the context loads, before any step runs.
    # A step's digest, and `...` where its output pauses, show nothing run yet.
    assert _first_running_line(COLD_CORE) == "#10 1.451 Fetched 16.6 MB in 1s (14.3 MB/s)"
    assert _first_running_line(FAILED) == "#18 0.012 copying"
    assert _first_running_line("#8 [build 1/6] COPY a b\n#8 DONE 0.0s") == "#8 DONE 0.0s"
    # A Dockerfile of one stage: BuildKit names no stage.
    assert _first_running_line("#6 [2/3] COPY a b\n#6 sha256:ca4d\n#6 DONE 0.0s") == "#6 DONE 0.0s"


def test_a_step_watch_sees_nothing_run_in_a_cached_build() -> None:
    assert _first_running_line(CACHED_SERVER) is None


def test_a_step_watch_answers_once() -> None:
    watch = StepWatch()
    lines = COLD_CORE.splitlines()
    assert sum(watch.feed(line) for line in lines) == 1
    assert watch.ran
