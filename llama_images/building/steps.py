"""The one seam between showing a run and acting on the engine: builds, tags and pushes.

Commands converge (plan, check), show what they will do, then act through `Steps`;
`steps_for(..., dry=True)` gives steps that print each action instead, so a dry run
walks the very same code path as a real one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.errors import ProjectError
from llama_images.model.project import Project


class Steps(Protocol):
    def build(
        self, log_name: str, request: BuildRequest, on_line: Callable[[str], object] | None = None
    ) -> str:
        """Builds one request, its output kept in the log `log_name` (and each line given to
        `on_line`); returns the image id."""
        ...

    def tag(self, image_id: str, ref: str) -> None: ...

    def push(self, ref: str) -> str:
        """Pushes a tag; returns the digest the registry stored."""
        ...

    def act(self, description: str, action: Callable[[], None]) -> None:
        """Any other action with effects (staging files, say), described for dry runs."""
        ...


@dataclass(frozen=True)
class EngineSteps:
    engine: Engine
    log_dir: Path

    def build(
        self, log_name: str, request: BuildRequest, on_line: Callable[[str], object] | None = None
    ) -> str:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{log_name}.log").open("w") as log:
            return self.engine.build(request, log, on_line)

    def tag(self, image_id: str, ref: str) -> None:
        self.engine.tag(image_id, ref)

    def push(self, ref: str) -> str:
        return self.engine.push(ref)

    def act(self, description: str, action: Callable[[], None]) -> None:
        action()


@dataclass(frozen=True)
class DrySteps:
    docker_cli: str

    def build(
        self, log_name: str, request: BuildRequest, on_line: Callable[[str], object] | None = None
    ) -> str:
        print(f"would run: {shlex.join(request.argv(self.docker_cli))}")
        return f"<{log_name}>"

    def tag(self, image_id: str, ref: str) -> None:
        print(f"would tag {image_id} as {ref}")

    def push(self, ref: str) -> str:
        print(f"would push {ref}")
        return "<digest>"

    def act(self, description: str, action: Callable[[], None]) -> None:
        print(f"would {description}")


def require_engine(project: Project) -> Engine:
    """The engine a real run acts on, started when none answers and one can be."""
    return Engine.connect(project.settings.docker, log_dir=project.settings.cache_path)


def probe_engine(project: Project) -> Engine | None:
    """The engine a dry run may ask (about bases, say), only if one already answers."""
    try:
        return Engine.connect(project.settings.docker, start=False)
    except ProjectError:
        return None


def connect(project: Project, *, dry: bool) -> Engine | None:
    return probe_engine(project) if dry else require_engine(project)


def steps_for(project: Project, engine: Engine | None, *, dry: bool) -> Steps:
    if dry:
        return DrySteps(project.settings.docker)
    if engine is None:
        raise ProjectError("no container engine answers: start dockerd, or use --dry-run")
    return EngineSteps(engine, project.settings.cache_path / "logs")
