"""Where a build's time goes: seconds per Dockerfile stage, read from BuildKit's plain output.

`docker build --progress=plain` names each step (a vertex) `#N [stage i/n] INSTRUCTION`,
`#N [internal] ...` or `#N exporting to image`; the lines of running vertices interleave,
each repeating its name when it resumes, and each vertex ends with `#N DONE 12.3s`,
`#N CACHED` or `#N ERROR: ...`. A step's seconds are its own: steps of one build run
concurrently, so a stage's seconds, or all of them added up, are not wall time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from llama_images.errors import ProjectError

INTERNAL = "internal"  # loading the Dockerfile, the context, base image metadata
EXPORT = "export"  # writing the image
DESCRIPTION_LENGTH = 60

_VERTEX_LINE = re.compile(r"^#(\d+) (.*)$")
_DONE = re.compile(r"^DONE (\d+(?:\.\d+)?)s$")
# A step's output line starts with the seconds since the step started.
_OUTPUT_TIME = re.compile(r"^(\d+\.\d+) ")
# `[build 3/6]`, or `[linux/arm64 build 3/6]` when several platforms build at once.
# BuildKit names the stage only where a Dockerfile has more than one.
_STAGE_STEP = re.compile(r"^\[(?:(?:\S+ )*(?P<stage>\S+) )?(?P<index>\d+/\d+)\] (?P<step>.+)$")
ONLY_STAGE = "(only stage)"
_NOT_RUN = frozenset({"CACHED", "..."})


@dataclass(frozen=True)
class StageTime:
    """One stage of a build: the seconds its steps ran, and its longest step."""

    stage: str
    seconds: float
    steps_run: int
    steps_cached: int
    longest_step: str  # a short description; "" when no step ran
    longest_seconds: float


@dataclass(frozen=True)
class BuildLog:
    """Every stage of one build, in the order the log first names them."""

    stages: tuple[StageTime, ...]

    @property
    def total_steps_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    @property
    def longest(self) -> StageTime | None:
        """The stage holding the build's longest step; None when no step ran."""
        ran = [stage for stage in self.stages if stage.steps_run]
        return max(ran, key=lambda stage: stage.longest_seconds) if ran else None


@dataclass
class _Vertex:
    stage: str
    step: str
    seconds: float = 0.0
    ended: str = ""  # "DONE", "CACHED" or "ERROR"


def stage_and_step(name: str) -> tuple[str, str]:
    """The stage a vertex belongs to, and a short description of it."""
    matched = _STAGE_STEP.match(name)
    if matched:
        return matched["stage"] or ONLY_STAGE, short_step(matched["index"], matched["step"])
    if name.startswith("exporting"):
        return EXPORT, shorten(name)
    return INTERNAL, shorten(re.sub(r"^\[[^\]]*\] ", "", name))


def short_step(index: str, instruction: str) -> str:
    """`3/6 RUN compile.sh ...`: what a step runs, without what only sets it up."""
    keyword, _, command = instruction.partition(" ")
    if keyword.upper() == "RUN":
        command = short_command(command)
    return shorten(f"{index} {keyword} {command}")


def short_command(command: str) -> str:
    """A RUN's command without its flags (cache and bind mounts), leading `:` and `set`
    commands (they only check variables or set options), and its program's folder."""
    words = command.split()
    while words and words[0].startswith("--"):
        del words[0]
    commands = " ".join(words).split(" && ")
    while len(commands) > 1 and (commands[0].split() or [""])[0] in (":", "set"):
        del commands[0]
    program, _, arguments = " && ".join(commands).partition(" ")
    if program.startswith("/"):
        program = program.rsplit("/", 1)[1]
    return f"{program} {arguments}".strip()


def shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= DESCRIPTION_LENGTH:
        return text
    return text[: DESCRIPTION_LENGTH - 1].rstrip() + "…"


def parse_build_log(text: str) -> BuildLog:
    """The stages of a `--progress=plain` log.

    A step counts as run when it ended DONE (its seconds are BuildKit's), or ERROR (its
    seconds are those of its last output line); as cached when it ended CACHED. A step
    the log leaves unfinished counts as neither.
    """
    vertices: dict[str, _Vertex] = {}
    for line in text.splitlines():
        matched = _VERTEX_LINE.match(line)
        if not matched:
            continue
        number, rest = matched[1], matched[2].rstrip()
        vertex = vertices.get(number)
        if vertex is None:
            vertices[number] = _Vertex(*stage_and_step(rest))
            continue
        done = _DONE.match(rest)
        if done:
            vertex.ended, vertex.seconds = "DONE", float(done[1])
        elif rest == "CACHED":
            vertex.ended = "CACHED"
        elif rest.startswith("ERROR"):
            vertex.ended = "ERROR"
        else:
            timed = _OUTPUT_TIME.match(rest)
            if timed and not vertex.ended:
                vertex.seconds = float(timed[1])
    return BuildLog(_stages([v for v in vertices.values() if v.ended]))


@dataclass
class StepWatch:
    """Fed a build's plain output line by line: tells when a step of one of the
    Dockerfile's stages first runs (prints output or ends DONE). A build answered from the
    cache only loads its definition, context and bases, and runs no such step."""

    _steps: set[str] = field(default_factory=set)
    ran: bool = False

    def feed(self, line: str) -> bool:
        """Whether this line is the first sign of a step running."""
        matched = _VERTEX_LINE.match(line.rstrip())
        if self.ran or not matched:
            return False
        number, rest = matched[1], matched[2]
        step = _STAGE_STEP.match(rest)
        if number not in self._steps:
            # A base's FROM ends DONE in a cached build too: it is resolved, not run.
            if step and not step["step"].upper().startswith("FROM "):
                self._steps.add(number)
            return False
        # A cached step prints its digest, then CACHED; BuildKit marks a step's output as
        # paused with `...` and repeats its header when the output resumes.
        if step or rest in _NOT_RUN or rest.startswith(("sha256:", "ERROR")):
            return False
        self.ran = True
        return True


@dataclass
class _Stage:
    seconds: float = 0.0
    run: int = 0
    cached: int = 0
    longest: tuple[str, float] = ("", 0.0)


def _stages(vertices: list[_Vertex]) -> tuple[StageTime, ...]:
    stages: dict[str, _Stage] = {}
    for vertex in vertices:
        stage = stages.setdefault(vertex.stage, _Stage())
        if vertex.ended == "CACHED":
            stage.cached += 1
            continue
        stage.run += 1
        stage.seconds += vertex.seconds
        if stage.run == 1 or vertex.seconds > stage.longest[1]:
            stage.longest = (vertex.step, vertex.seconds)
    return tuple(
        StageTime(name, round(s.seconds, 3), s.run, s.cached, s.longest[0], s.longest[1])
        for name, s in stages.items()
    )


def read_build_log(path: Path) -> BuildLog:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ProjectError(f"cannot read the build log {path}: {exc.strerror}") from None
    return parse_build_log(text)
