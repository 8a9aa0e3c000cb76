"""The bench's steps: each adds its figures, a failed one is recorded and the next still runs;
where the cold build's time goes; the pin bump's tree, checked before anything is built."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from llama_images.adapters.source import sha256_of
from llama_images.building.builder import BuiltImage
from llama_images.building.buildlog import StageTime
from llama_images.commands import bench
from llama_images.commands.bench import (
    PIN_BUMP,
    SEEDED,
    BenchResult,
    BenchRun,
    BuildStages,
    Rebuild,
    Step,
    bump_tree,
    cold_build,
    pin_bump,
    render,
    run_steps,
)
from llama_images.errors import ProjectError
from llama_images.model.version import BuildVersion
from tests.unit.adapters.test_source import fake_sdist
from tests.unit.building.test_buildlog import CACHED_SERVER, COLD_CORE
from tests.unit.conftest import REPO_ROOT

VERSION = "2611221200-abcdef0"


def bench_run(bump_source: str = "") -> BenchRun:
    # The steps under test reach neither the project nor the engine.
    unused: Any = None
    return BenchRun(
        project=unused,
        ours=unused,
        engine=unused,
        version=BuildVersion.parse(VERSION),
        base="llama-images/debian:trixie",
        tree=Path("/nonexistent"),
        workdir=Path("/nonexistent"),
        bump_source=bump_source,
        result=BenchResult(VERSION, "2 cores"),
        cold=200.0,
    )


def compiled_once(run: BenchRun) -> list[BuiltImage]:
    return [BuiltImage("cpu", "linux/amd64", "runtime", "sha256:1", (), 1.0, 1, "3/10 (30%)")]


def nothing_to_compile(run: BenchRun) -> list[BuiltImage]:
    return [BuiltImage("cpu", "linux/amd64", "runtime", "sha256:1", (), 1.0, 1, "cached")]


def no_engine(run: BenchRun) -> None:
    raise ProjectError("no Docker engine answers")


def test_a_failed_step_is_recorded_and_the_next_still_runs() -> None:
    run = bench_run()
    run_steps(
        run,
        [
            Step("image sizes", no_engine),
            Rebuild("no-op rebuild", nothing_to_compile, "<s 5"),
            Rebuild("rebuild on a new base image", compiled_once, "<= 0.1"),
        ],
    )
    failed, no_op, new_base = run.result.figures
    assert run.result.failed == ["image sizes"]
    assert failed.note == "FAILED: no Docker engine answers"
    assert no_op.reference == 200.0 and no_op.note == "compiled: nothing"
    assert no_op.met == "yes"
    assert new_base.note == "compiled: cpu runtime 3/10 (30%)"
    assert new_base.reference_name == "our cold build"


def test_a_repeated_rebuild_is_its_median_and_shows_each_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = bench_run()
    seconds = iter([10.0, 14.0, 11.0, 12.0, 13.0, 13.5])
    monkeypatch.setattr("llama_images.commands.bench.time.monotonic", lambda: next(seconds))
    run_steps(run, [Rebuild("no-op rebuild", nothing_to_compile, "<s 5", runs=3)])
    monkeypatch.undo()
    (figure,) = run.result.figures
    assert figure.value == 1.0  # runs of 4.0, 1.0 and 0.5 s
    assert figure.note == "median of 3 runs (4.0, 1.0, 0.5 s); compiled: nothing"
    assert figure.met == "yes"


def test_pin_bump_without_a_tree_says_how_to_measure_it() -> None:
    run = bench_run()
    pin_bump(run)
    (figure,) = run.result.figures
    assert figure.name == PIN_BUMP
    assert "pass --bump-source DIR" in figure.note
    assert not run.result.failed


def test_the_table_shows_each_figure_against_its_reference() -> None:
    run = bench_run()
    run_steps(run, [Rebuild("no-op rebuild", nothing_to_compile, "<s 5")])
    text = render(run.result)
    assert f"bench {VERSION} on 2 cores" in text
    assert "no-op rebuild" in text and "our cold build" in text and "200.0 s" in text
    assert run.result.as_json()["checks"] == []


def built(target: str, seconds: float, log: Path | None) -> BuiltImage:
    return BuiltImage("cpu", "linux/amd64", target, "sha256:1", (), seconds, 1, "cached", log)


class PrunedEngine:
    def __init__(self) -> None:
        self.pruned = 0

    def prune_build_cache(self) -> None:
        self.pruned += 1


def test_the_cold_build_says_where_its_time_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "core.log").write_text(COLD_CORE)
    (tmp_path / "server.log").write_text(CACHED_SERVER)
    images = [
        built("core", 712.0, tmp_path / "core.log"),
        built("module", 400.0, None),
        built("server", 3.0, tmp_path / "server.log"),
    ]
    monkeypatch.setattr(bench, "build_local", lambda project: images)
    forgotten: list[Path] = []
    monkeypatch.setattr(bench, "forget_ui_packages", lambda tree, cache: forgotten.append(tree))
    run = bench_run()
    engine: Any = PrunedEngine()
    run.engine = engine
    run.project = cast(Any, SimpleNamespace(settings=SimpleNamespace(cache_path=tmp_path)))
    cold_build(run)
    assert engine.pruned == 1 and run.cold_built == images
    # Upstream's web stage fetches its packages in the build: ours are fetched again too.
    assert forgotten == [run.tree]
    core, module, server = run.result.stages
    assert core.wall_seconds == 712.0 and core.steps_seconds == pytest.approx(730.5)
    assert [s.stage for s in core.shown()] == ["internal", "web", "builder-fromsource", "build"]
    assert module.stages == () and module.note == "no build log"
    # Nothing ran for half a second: the stage of its longest step still has a row.
    assert [s.stage for s in server.shown()] == ["internal"]
    text = render(run.result)
    assert "where the cold build's time goes (a stage's seconds are the time its steps ran" in text
    assert "not wall time" in text
    rows = [line for line in text.splitlines() if line.startswith("│ cpu core ")]
    assert "whole build, wall" in rows[0] and "712.0 s" in rows[0]
    assert any("625.6 s" in row and "4/6 RUN compile.sh /src/llama.cpp" in row for row in rows)
    assert "no build log" in text
    (first, *_) = run.result.as_json()["stages"]
    assert first["target"] == "core" and first["wall_seconds"] == 712.0
    assert first["stages"][1] == {
        "stage": "web",
        "seconds": 53.5,
        "steps_run": 3,
        "steps_cached": 0,
        "longest_step": "3/8 RUN apt-install.sh nodejs npm",
        "longest_seconds": 29.9,
    }


def test_a_build_that_ran_nothing_for_long_still_shows_its_longest_step() -> None:
    stages = BuildStages(
        "cpu", "server", 1.0, (StageTime("internal", 0.3, 4, 0, "load build context", 0.3),)
    )
    assert stages.shown() == list(stages.stages)


def test_the_fresh_runner_aims_at_a_tenth_of_the_cold_build() -> None:
    (fresh, _) = SEEDED
    assert isinstance(fresh, Rebuild) and fresh.goal == "<= 0.1"


def test_the_pin_bump_names_its_tree() -> None:
    run = bench_run("/trees/newer")
    run.bump_origin = "llama-cpp-python==0.3.36 (sha256 ab matches)"
    Rebuild(PIN_BUMP, compiled_once, about=run.bump_origin).measure(run)
    (figure,) = run.result.figures
    assert (
        figure.note
        == "llama-cpp-python==0.3.36 (sha256 ab matches); compiled: cpu runtime 3/10 (30%)"
    )


def test_a_llama_cpp_python_release_is_fetched_and_unpacked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = fake_sdist(tmp_path / "llama_cpp_python-1.0.tar.gz")
    asked: list[tuple[str, str]] = []

    def release_sdist(project: str, version: str, cache: Path) -> tuple[Path, str]:
        asked.append((project, version))
        return archive, sha256_of(archive)

    monkeypatch.setattr(bench, "release_sdist", release_sdist)
    cache = tmp_path / "bump-sources"
    tree = bump_tree("llama_cpp_python==1.0", cache)
    assert tree is not None and asked == [("llama-cpp-python", "1.0")]
    assert tree.path == cache / "sources" / "llama-cpp-python-1.0"
    assert (tree.path / "tools" / "server" / "server.cpp").is_file()
    assert tree.origin == "llama-cpp-python==1.0" and tree.proof.startswith("sha256 ")
    again = bump_tree("llama-cpp-python==1.0", cache)
    assert again is not None and again.path == tree.path and "files match" in again.proof


def test_a_llama_cpp_tree_is_taken_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "tools" / "server").mkdir(parents=True)
    (tmp_path / "CMakeLists.txt").write_text("project(llama)\n")
    tree = bump_tree(str(tmp_path), tmp_path / "cache")
    assert tree is not None and tree.path == tmp_path and tree.origin == f"local {tmp_path}"
    assert bump_tree("", tmp_path / "cache") is None
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("argument", "cause"),
    [
        ("/nonexistent/llama.cpp", r"--bump-source /nonexistent/llama.cpp does not exist: name a"),
        (".", r"--bump-source \S+ is not a llama.cpp tree \(no CMakeLists.txt and tools/server\)"),
        ("notes.txt", r"--bump-source \S+/notes.txt is not a llama.cpp tree"),
        ("numpy==2.0", r"only llama-cpp-python's sdist vendors llama.cpp"),
        ("llama-cpp-python==latest", r"'latest' is not a PyPI \(PEP 440\) version"),
    ],
)
def test_a_bad_bump_source_is_one_error(
    argument: str, cause: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a tree\n")
    with pytest.raises(ProjectError, match=cause):
        bump_tree(argument, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_bad_bump_source_stops_the_bench_before_any_build(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_build(*args: Any) -> None:
        raise AssertionError("the bench started")

    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(bench, "start_run", no_build)
    monkeypatch.setattr(bench, "build_local", no_build)
    assert bench.main(["--bump-source", "/nonexistent/llama.cpp"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --bump-source /nonexistent/llama.cpp")


def test_what_a_rebuild_is_prepared_with_is_not_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("llama_images.commands.bench.time.monotonic", lambda: now[0])

    def prepare(run: BenchRun) -> None:
        now[0] += 100.0  # exporting and pruning, say

    def rebuild(run: BenchRun) -> list[BuiltImage]:
        now[0] += 10.0
        return compiled_once(run)

    run = bench_run()
    Rebuild("fresh", rebuild, "<= 0.1", prepare=prepare).measure(run)
    (figure,) = run.result.figures
    assert figure.value == 10.0 and figure.ratio == 10.0 / run.cold
