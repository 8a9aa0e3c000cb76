"""The bench's steps: each adds its figures, a failed one is recorded and the next still runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_images.building.builder import BuiltImage
from llama_images.commands.bench import (
    PIN_BUMP,
    BenchResult,
    BenchRun,
    Rebuild,
    Step,
    pin_bump,
    render,
    run_steps,
)
from llama_images.errors import ProjectError
from llama_images.model.version import BuildVersion

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
