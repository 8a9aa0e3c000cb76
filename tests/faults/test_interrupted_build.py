"""A build killed mid-compile, client and engine both, moves no tag, and the next run resumes
from the caches: the stages before the compile answer from the layer cache, and the compile
finds what it compiled before the kill in its ccache mount.

The engine is a private dockerd (its own data root, socket and bridge), so killing it ends
no one else's build; it starts empty, with only the offline base loaded from the shared one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.model.metadata import project_label, write_json_atomically
from llama_images.model.project import Project
from llama_images.report import table
from llama_images.testing.privateengine import PrivateEngine, ccache_results, private_engine

ROOT = Path(__file__).resolve().parents[2]
BUILD = ["build-local", "--variants", "cpu", "--targets", "runtime"]
PREVIOUS = "llama.cpp:latest-cpu"
# Killed once this many compilations are in the ccache mount (the cpu core has about 650).
KILL_AT_RESULTS = 60
# Generous: other builds on the same cores can triple a compile's time.
BUILD_LIMIT = 7200.0
STEP = re.compile(r"^#(?P<n>\d+) \[(?P<stage>[\w-]+) (?P<index>\d+)/\d+\] (?P<what>.*)$")
COMPILE = "RUN --mount=type=cache,id=llama-images-ccache"
HITS = re.compile(r"Hits:\s+(\d+)\s*/\s*(\d+)")

pytestmark = pytest.mark.faults


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder beside the user's cache, not under pytest's basetemp, which other pytest
    runs prune while this one still builds. Only the logs stay, for a post-mortem."""
    faults = Project.open(ROOT).settings.cache_path / "faults"
    faults.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=faults))
    yield folder
    shutil.rmtree(folder / "cache" / "contexts", ignore_errors=True)
    print(f"logs of the killed build, its rerun and the engine: {folder}")


@pytest.fixture
def dockerd(workdir: Path) -> Iterator[PrivateEngine]:
    with private_engine(workdir / "engine") as private:
        yield private


def environ(private: PrivateEngine, cache: Path) -> dict[str, str]:
    """The private engine, offline bases, a cache folder of the test's own that shares the
    verified llama.cpp source and the web UI's packages with the user's cache."""
    shared = Project.open(ROOT).settings.cache_path
    cache.mkdir(parents=True)
    for name in ("sources", "npm"):
        (shared / name).mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(shared / name)
    kept = {k: v for k, v in private.environ().items() if not k.startswith("LLAMA_IMAGES_")}
    return {
        **kept,
        "LLAMA_IMAGES_BASE_MODE": "offline",
        "LLAMA_IMAGES_CACHE_DIR": str(cache),
        "PYTHONUNBUFFERED": "1",
    }


def invoke_argv() -> list[str]:
    return [str(Path(sys.executable).parent / "invoke"), *BUILD]


@dataclass
class Output:
    """A running build's output, read as it comes; when the compile step started."""

    lines: list[str] = field(default_factory=list)
    compile_started: float | None = None

    def read(self, stream: Iterator[str]) -> None:
        for line in stream:
            self.lines.append(line)
            step = STEP.match(line)
            if step and step["what"].startswith(COMPILE) and self.compile_started is None:
                self.compile_started = time.monotonic()

    def tail(self) -> str:
        return "".join(self.lines[-20:])


@dataclass(frozen=True)
class Kill:
    seconds: float
    compile_seconds: float
    results: int


def build_until_compiled(private: PrivateEngine, env: dict[str, str]) -> Kill:
    """Runs a build and SIGKILLs it (invoke and its docker client) once the compile has
    put KILL_AT_RESULTS results in the ccache mount; then SIGKILLs the engine."""
    output = Output()
    started = time.monotonic()
    with subprocess.Popen(
        invoke_argv(),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as build:
        assert build.stdout is not None
        reader = threading.Thread(target=output.read, args=(build.stdout,), daemon=True)
        reader.start()
        while ccache_results(private.data_root) < KILL_AT_RESULTS:
            assert build.poll() is None, f"the build ended before the kill:\n{output.tail()}"
            assert time.monotonic() - started < BUILD_LIMIT, output.tail()
            time.sleep(2)
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
        killed = time.monotonic()
        private.kill()
    reader.join(timeout=30)
    assert output.compile_started is not None, output.tail()
    assert not any(line.startswith("built ") for line in output.lines), "it finished"
    return Kill(
        round(killed - started, 1),
        round(killed - output.compile_started, 1),
        ccache_results(private.data_root),
    )


def all_tags(engine: Engine) -> dict[str, str]:
    return {tag: str(i.id) for i in engine.client.images.list() for tag in i.tags}


def steps_of(log: str) -> tuple[dict[int, re.Match[str]], set[int]]:
    """Each step's header, by number, and the numbers of the steps answered from the cache."""
    headers = {int(m["n"]): m for m in map(STEP.match, log.splitlines()) if m}
    cached = {int(line.split()[0][1:]) for line in log.splitlines() if line.endswith(" CACHED")}
    return headers, cached


def precompile_steps(headers: dict[int, re.Match[str]]) -> tuple[int, list[int]]:
    """The compile step, and every step before it: the toolchain, web UI and build stages'
    steps that the compile depends on (FROM lines are never `CACHED`)."""
    compile_step = next(n for n, h in headers.items() if h["what"].startswith(COMPILE))
    compile_index = int(headers[compile_step]["index"])
    before = [
        n
        for n, h in headers.items()
        if not h["what"].startswith("FROM")
        and (
            h["stage"] in ("builder-fromsource", "web")
            or (h["stage"] == "build" and int(h["index"]) < compile_index)
        )
    ]
    return compile_step, sorted(before)


def test_a_killed_build_moves_no_tag_and_resumes_from_the_caches(
    dockerd: PrivateEngine, workdir: Path
) -> None:
    base = Project.open(ROOT).catalog().offline.ref
    dockerd.load(base)
    engine = dockerd.engine()
    engine.tag(engine.image_id(base), PREVIOUS)  # stands for the release users have now
    before = all_tags(engine)
    env = environ(dockerd, workdir / "cache")

    kill = build_until_compiled(dockerd, env)
    print(
        f"killed after {kill.seconds} s ({kill.compile_seconds} s of compile), "
        f"{kill.results} ccache results"
    )
    dockerd.start()
    engine = dockerd.engine()
    assert all_tags(engine) == before, "the killed build moved or added a tag"

    started = time.monotonic()
    rerun = subprocess.run(
        invoke_argv(),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_LIMIT,
        check=False,
    )
    rerun_seconds = round(time.monotonic() - started, 1)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    version = re.search(r"^built (\S+)", rerun.stdout, re.MULTILINE)
    assert version is not None, rerun.stdout[-3000:]
    log = (workdir / "cache" / "logs" / f"build-cpu-runtime-{version[1]}.log").read_text()
    headers, cached = steps_of(log)
    compile_step, before_compile = precompile_steps(headers)
    missed = [headers[n]["what"][:80] for n in before_compile if n not in cached]
    assert before_compile and not missed, f"not answered from the cache: {missed}"
    assert compile_step not in cached, "the compile never ran again"
    hits = HITS.search(log)
    assert hits is not None and int(hits[1]) > 0, "the compile found nothing in ccache"
    assert int(hits[1]) >= kill.results, "compilations stored before the kill were lost"

    latest = engine.image_id(PREVIOUS)
    assert latest != before[PREVIOUS], "latest-cpu did not move once a build completed"
    assert engine.image_labels(latest)[project_label("variant")] == "cpu"

    figures = {
        "seconds_before_kill": kill.seconds,
        "compile_seconds_before_kill": kill.compile_seconds,
        "ccache_results_at_kill": kill.results,
        "rerun_ccache_hits": int(hits[1]),
        "rerun_ccache_calls": int(hits[2]),
        "rerun_seconds": rerun_seconds,
        "rerun_cached_steps_before_compile": len(before_compile),
    }
    print(table(["figure", "value"], [[k, v] for k, v in figures.items()], title="killed build"))
    record = ROOT / "results" / f"faults-{time.strftime('%Y%m%dT%H%M%S')}.json"
    write_json_atomically(record, {"killed_build": figures})
