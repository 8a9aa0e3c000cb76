"""Every recipe calls compile.sh the way its usage line says: the positional arguments it
names, then CMake flags. A recipe that no engine here can build is held to this too."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from llama_images.building.dockerfile import parse_dockerfile
from tests.unit.conftest import REPO_ROOT

BASE_IMAGES = REPO_ROOT / "base-images"
COMPILE = BASE_IMAGES / "scripts" / "compile.sh"
RECIPES = sorted(BASE_IMAGES.glob("*.Dockerfile"))
# llama-server builds the core and every module it can load (server-context all but the
# server, before the web UI is there); ggml-<backend> one module.
TARGET = re.compile(r"^(llama-server|server-context|ggml-[a-z0-9]+)$")


def positional_names() -> list[str]:
    usage = next(line for line in COMPILE.read_text().splitlines() if "usage: compile.sh" in line)
    words = usage.split("compile.sh", 1)[1].split()
    return [w for w in words if not w.startswith("[")]


def compile_calls(recipe: Path) -> list[list[str]]:
    calls = []
    for stage in parse_dockerfile(recipe).stages:
        for command in re.split(r"&&|;|\n", stage.run_text()):
            words = shlex.split(command.replace("\\\n", " "), posix=True)
            for i, word in enumerate(words):
                if word.endswith("/compile.sh"):
                    calls.append(words[i + 1 :])
    return calls


def test_usage_names_the_target() -> None:
    assert positional_names() == ["SOURCE_DIR", "BUILD_DIR", "TARGET"]


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_compile_calls_follow_the_usage(recipe: Path) -> None:
    wanted = len(positional_names())
    for args in compile_calls(recipe):
        positional = args[:wanted]
        assert len(positional) == wanted and not any(a.startswith("-") for a in positional), (
            f"{recipe.name}: compile.sh {' '.join(args[:4])}… lacks {positional_names()}"
        )
        assert TARGET.match(positional[-1]), f"{recipe.name}: {positional[-1]} is not a target"
        # "$@": flags a wrapping `sh -c` forwards.
        assert all(a.startswith("-D") or a == "$@" for a in args[wanted:]), f"{recipe.name}: {args}"
