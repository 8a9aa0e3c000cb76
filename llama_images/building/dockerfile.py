"""A small Dockerfile reader: stages, ARGs, bases, CMake flags and packages.

Enough to check our Dockerfiles statically and to compare them, and upstream's
`.devops/` recipes, semantically. It understands the instructions these files
use; it is not a full BuildKit frontend.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from llama_images.errors import ProjectError
from llama_images.paths import read_utf8

# Platform ARGs BuildKit predeclares in the global scope only.
PLATFORM_ARGS = frozenset(
    {
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
    }
)
# Instructions whose text a shell reads at build or run time, not the frontend.
SHELL_EVALUATED = frozenset({"RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK", "SHELL"})
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
_FLAG_RE = re.compile(r"-D([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def args(self) -> dict[str, str | None]:
        declared: dict[str, str | None] = {}
        for instruction in self.instructions:
            if instruction.keyword == "ARG":
                declared.update(parse_arg(instruction.value))
        return declared

    def env_names(self) -> set[str]:
        names: set[str] = set()
        for instruction in self.instructions:
            if instruction.keyword == "ENV":
                value = instruction.value
                if "=" in value.split()[0]:
                    names.update(t.split("=", 1)[0] for t in shlex.split(value) if "=" in t)
                else:
                    names.add(value.split()[0])
        return names

    def run_text(self) -> str:
        return "\n".join(i.value for i in self.instructions if i.keyword == "RUN")


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str | None]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ProjectError(f"{self.path.name} has no stage named {name!r}")

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]

    def expand(self, text: str, extra: dict[str, str | None] | None = None) -> str:
        """Expands ${VAR} and $VAR with the global ARG defaults (and `extra`)."""
        values = {**self.global_args, **(extra or {})}

        def substitute(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            value = values.get(name)
            return value if value is not None else match[0]

        for _ in range(5):  # defaults may refer to other ARGs
            expanded = _VAR_RE.sub(substitute, text)
            if expanded == text:
                break
            text = expanded
        return text

    def resolved_bases(self) -> dict[str, str]:
        """Stage name (or index) to its base image, ARG defaults applied."""
        return {s.name or str(i): self.expand(s.base) for i, s in enumerate(self.stages)}

    def cmake_flags(self) -> dict[str, str]:
        """Every -DNAME=VALUE passed in a RUN that configures CMake (directly or by script)."""
        flags: dict[str, str] = {}
        for stage in self.stages:
            for instruction in stage.instructions:
                if instruction.keyword == "RUN" and (
                    "cmake" in instruction.value or "compile.sh" in instruction.value
                ):
                    flags.update(cmake_flags_in(instruction.value))
        return flags

    def packages(self, stage_name: str) -> set[str]:
        """Packages installed by apt/yum in one stage."""
        return packages_in(self.stage(stage_name).run_text())


def parse_arg(value: str) -> dict[str, str | None]:
    declared: dict[str, str | None] = {}
    for token in shlex.split(value):
        name, sep, default = token.partition("=")
        declared[name] = default if sep else None
    return declared


def cmake_flags_in(text: str) -> dict[str, str]:
    return {m[1]: m[2].rstrip(";").strip("'\"").rstrip(";") for m in _FLAG_RE.finditer(text)}


def packages_in(text: str) -> set[str]:
    found: set[str] = set()
    for command in re.split(r"&&|;|\n", text):
        words = command.replace("\\", " ").split()
        for i, word in enumerate(words):
            script = word.rsplit("/", 1)[-1]
            if word == "install" or script in ("apt-install.sh", "yum-install.sh"):
                tool = words[i - 1] if i else ""
                if word == "install" and tool not in ("apt-get", "apt", "yum", "dnf"):
                    continue
                found.update(w for w in words[i + 1 :] if not w.startswith(("-", "$")))
                break
    return found


def variables_in(text: str) -> set[str]:
    return {m[1] or m[2] for m in _VAR_RE.finditer(text)}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        lines.append((start, " ".join(pending)))
    return lines


def parse_dockerfile(path: Path) -> Dockerfile:
    text = read_utf8(path)
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        value = value.strip()
        if keyword == "FROM":
            words = [w for w in value.split() if not w.startswith("--")]
            if not words:
                raise ProjectError(f"{path.name}:{number}: FROM names no image")
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name, line=number))
        elif not stages:
            if keyword != "ARG":
                raise ProjectError(f"{path.name}:{number}: {keyword} before the first FROM")
            global_args.update(parse_arg(value))
        else:
            stages[-1].instructions.append(Instruction(keyword, value, number))
    if not stages:
        raise ProjectError(f"{path.name} has no FROM")
    return Dockerfile(path=path, global_args=global_args, stages=stages)


def check_dockerfile(dockerfile: Dockerfile) -> list[str]:
    """Problems that would make a build wrong without failing it."""
    problems: list[str] = []
    name = dockerfile.path.name
    known_stages: list[str] = []
    inherited_env: dict[str, set[str]] = {}
    for stage in dockerfile.stages:
        for var in variables_in(stage.base):
            if var not in dockerfile.global_args and var not in PLATFORM_ARGS:
                problems.append(f"{name}:{stage.line}: FROM uses ${var}, not a global ARG")
        env = set(inherited_env.get(stage.base, set()))
        declared: set[str] = set()
        for instruction in stage.instructions:
            if instruction.keyword == "ARG":
                declared.update(parse_arg(instruction.value))
                continue
            if instruction.keyword == "ENV":
                env.update(_env_names(instruction.value))
            used = variables_in(instruction.value)
            if instruction.keyword in SHELL_EVALUATED:
                # A shell sees build args only once the stage declares them.
                build_args = set(dockerfile.global_args) | PLATFORM_ARGS
                missing = {v for v in used & build_args if v not in declared | env}
            else:
                missing = {v for v in used if v not in declared | env}
            for var in sorted(missing):
                problems.append(
                    f"{name}:{instruction.line}: {instruction.keyword} uses ${var}, "
                    f"which stage {stage.name or '?'} does not declare (ARG {var})"
                )
            if instruction.keyword == "COPY":
                source = re.search(r"--from=(\S+)", instruction.value)
                if source:
                    ref = source[1]
                    if ref not in known_stages and not re.search(r"[/:]", ref):
                        problems.append(
                            f"{name}:{instruction.line}: COPY --from={ref} names no earlier stage"
                        )
        if stage.name:
            known_stages.append(stage.name)
            inherited_env[stage.name] = env
    return problems


def _env_names(value: str) -> set[str]:
    first = value.split()[0]
    if "=" not in first:
        return {first}
    return {t.split("=", 1)[0] for t in shlex.split(value) if "=" in t}
