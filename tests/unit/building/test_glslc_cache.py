"""glslc-cache.sh against a stand-in glslc that counts its runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.conftest import REPO_ROOT

WRAPPER = REPO_ROOT / "base-images" / "scripts" / "glslc-cache.sh"
FAKE_GLSLC = """#!/bin/sh
echo run >> "{count}"
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out=$2; shift ;;
        -MF) dep=$2; shift ;;
        *.comp) src=$1 ;;
    esac
    shift
done
cat "$src" "$(dirname "$src")/types.glsl" > "$out"
[ -z "${{dep:-}}" ] || echo "$out: $src" > "$dep"
"""


@pytest.fixture
def shaders(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    count = tmp_path / "runs"
    fake = tmp_path / "glslc"
    fake.write_text(FAKE_GLSLC.format(count=count))
    fake.chmod(0o755)
    source = tmp_path / "shaders"
    source.mkdir()
    (source / "add.comp").write_text("add\n")
    (source / "types.glsl").write_text("types v1\n")
    env = {**os.environ, "GLSLC_REAL": str(fake), "CCACHE_DIR": str(tmp_path / "ccache")}
    return tmp_path, env


def glslc(tmp: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["-fshader-stage=compute", str(tmp / "shaders" / "add.comp"), "-o", str(tmp / "out.spv")]
    return subprocess.run(
        ["sh", str(WRAPPER), *args, "-MD", "-MF", str(tmp / "out.d"), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def runs(tmp: Path) -> int:
    return len((tmp / "runs").read_text().splitlines())


def test_second_compile_is_served_from_the_cache(shaders: tuple[Path, dict[str, str]]) -> None:
    tmp, env = shaders
    first = glslc(tmp, env)
    assert first.returncode == 0 and first.stderr == ""
    produced = (tmp / "out.spv").read_text(), (tmp / "out.d").read_text()
    (tmp / "out.spv").unlink()
    (tmp / "out.d").unlink()
    second = glslc(tmp, env)
    assert second.returncode == 0 and second.stderr == ""
    assert runs(tmp) == 1
    assert ((tmp / "out.spv").read_text(), (tmp / "out.d").read_text()) == produced


def test_an_include_or_a_define_change_misses(shaders: tuple[Path, dict[str, str]]) -> None:
    tmp, env = shaders
    glslc(tmp, env)
    (tmp / "shaders" / "types.glsl").write_text("types v2\n")
    glslc(tmp, env)
    assert runs(tmp) == 2
    assert "types v2" in (tmp / "out.spv").read_text()
    glslc(tmp, env, "-DFLOAT16=1")
    assert runs(tmp) == 3


def test_a_compile_to_stdout_is_not_cached(shaders: tuple[Path, dict[str, str]]) -> None:
    tmp, env = shaders
    for _ in range(2):
        done = subprocess.run(
            ["sh", str(WRAPPER), "-o", "-", str(tmp / "shaders" / "add.comp")],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0
    assert runs(tmp) == 2


def test_a_memo_of_the_folder_gives_the_same_key(shaders: tuple[Path, dict[str, str]]) -> None:
    tmp, env = shaders
    memo = {**env, "GLSLC_CACHE_MEMO": str(tmp / "memo")}
    glslc(tmp, memo)
    assert list((tmp / "memo").rglob("*.sha256")), "the folder's hash was not kept"
    glslc(tmp, memo)
    glslc(tmp, env)
    assert runs(tmp) == 1


def test_a_new_memo_sees_a_changed_folder(shaders: tuple[Path, dict[str, str]]) -> None:
    tmp, env = shaders
    glslc(tmp, {**env, "GLSLC_CACHE_MEMO": str(tmp / "first")})
    (tmp / "shaders" / "types.glsl").write_text("types v2\n")
    glslc(tmp, {**env, "GLSLC_CACHE_MEMO": str(tmp / "second")})
    assert runs(tmp) == 2
    assert "types v2" in (tmp / "out.spv").read_text()
