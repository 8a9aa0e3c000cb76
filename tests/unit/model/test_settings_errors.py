"""Settings problems are one error naming the cause: the file and line, or the closest name."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.errors import ProjectError
from llama_images.model.reference import check_reference
from llama_images.model.settings import load_settings
from llama_images.paths import user_path
from tests.unit.commands.test_tasks import invoke


def env_file(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    (tmp_path / ".env").write_text(text, encoding=encoding)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('LLAMA_IMAGES_REPO=a\nLLAMA_IMAGES_VARIANTS="cpu\n', r"line 2: its \" quote is never"),
        ("OTHER=1\nLLAMA_IMAGES_REPO='x\n", "line 2: its ' quote is never closed"),
        ("# fine\nthis is not a setting\n", "line 2: python-dotenv cannot parse it"),
        ("A=1\n\n\n  this is not\n", "line 4: python-dotenv cannot parse it"),
        ('LLAMA_IMAGES_REPO="x"junk\n', "line 1: python-dotenv cannot parse it"),
        ("LLAMA_IMAGES_REPO\n", "line 1: LLAMA_IMAGES_REPO has no value"),
    ],
)
def test_a_dotenv_line_that_cannot_be_read_is_named(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ProjectError, match=rf"^{tmp_path}/\.env {message}"):
        load_settings(env_file(tmp_path, text), environ={})


def test_a_utf16_dotenv_is_named(tmp_path: Path) -> None:
    root = env_file(tmp_path, "LLAMA_IMAGES_REPO=x\n", encoding="utf-16")
    with pytest.raises(ProjectError, match=r"\.env line 1 is not UTF-8 \(it is UTF-16\): save"):
        load_settings(root, environ={})


def test_a_latin1_line_is_named(tmp_path: Path) -> None:
    root = env_file(tmp_path, "A=1\nB=2\nLLAMA_IMAGES_REPO=caf\xe9\n", encoding="latin-1")
    with pytest.raises(ProjectError, match=r"\.env line 3 is not UTF-8: save it as UTF-8"):
        load_settings(root, environ={})


def test_a_utf8_bom_and_other_names_are_fine(tmp_path: Path) -> None:
    root = env_file(tmp_path, "\ufeffLLAMA_IMAGES_REPO=mine\nPATH_EXTRA=1\n")
    assert load_settings(root, environ={}).repo == "mine"


def test_an_unknown_name_in_dotenv_names_the_closest(tmp_path: Path) -> None:
    root = env_file(tmp_path, "LLAMA_IMAGES_REPO=x\n\nLLAMA_IMAGES_VARIANT=cpu\n")
    with pytest.raises(
        ProjectError,
        match=r"unknown setting LLAMA_IMAGES_VARIANT in .*\.env line 3: "
        r"did you mean LLAMA_IMAGES_VARIANTS\?$",
    ):
        load_settings(root, environ={})


def test_an_unknown_name_in_the_environment_names_the_closest(tmp_path: Path) -> None:
    with pytest.raises(
        ProjectError,
        match=r"unknown setting LLAMA_IMAGES_BASEMODE in the environment: "
        r"did you mean LLAMA_IMAGES_BASE_MODE\?",
    ):
        load_settings(tmp_path, environ={"LLAMA_IMAGES_BASEMODE": "offline"})


def test_names_read_by_ci_and_tests_are_not_typos(tmp_path: Path) -> None:
    environ = {"LLAMA_IMAGES_ACTIONS_DIR": "/a", "LLAMA_IMAGES_VOCAB": "/v"}
    load_settings(tmp_path, environ=environ)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LLAMA_IMAGES_REPO": "Llama.cpp"}, "LLAMA_IMAGES_REPO 'Llama.cpp' is not a valid image"),
        ({"LLAMA_IMAGES_REPO": "llama..cpp"}, "LLAMA_IMAGES_REPO 'llama..cpp' is not a valid"),
        ({"LLAMA_IMAGES_REPO": "a b"}, "LLAMA_IMAGES_REPO 'a b' is not a valid"),
        ({"LLAMA_IMAGES_REPO": ""}, "LLAMA_IMAGES_REPO '' is not a valid"),
        (
            {"LLAMA_IMAGES_REGISTRY": "ghcr.io/Owner"},
            "LLAMA_IMAGES_REGISTRY 'ghcr.io/Owner' is not",
        ),
        ({"LLAMA_IMAGES_CCACHE_REGISTRY": "a b"}, "LLAMA_IMAGES_CCACHE_REGISTRY 'a b' is not"),
        (
            {"LLAMA_IMAGES_BASE_OVERRIDE": "debian:.bad"},
            "'debian:.bad' is not a valid image reference: its tag '.bad'",
        ),
        ({"LLAMA_IMAGES_CACHE_DIR": "~nosuchuser/c"}, "there is no user 'nosuchuser'"),
        ({"LLAMA_IMAGES_SOURCE_PATH": "~nosuchuser"}, "LLAMA_IMAGES_SOURCE_PATH '~nosuchuser'"),
    ],
)
def test_invalid_values_are_refused_when_read(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ProjectError, match=message):
        load_settings(tmp_path, environ=environ)


@pytest.mark.parametrize(
    "environ",
    [
        {"LLAMA_IMAGES_REPO": "owner/llama.cpp"},
        {"LLAMA_IMAGES_REPO": "llama__cpp-x--y"},
        {"LLAMA_IMAGES_REGISTRY": "localhost:5000/"},
        {"LLAMA_IMAGES_REGISTRY": "ghcr.io/owner"},
        {"LLAMA_IMAGES_BASE_OVERRIDE": "llama-images/debian:trixie"},
        {"LLAMA_IMAGES_BASE_OVERRIDE": "localhost:5000/debian:Trixie_1.0"},
    ],
)
def test_valid_values_pass(tmp_path: Path, environ: dict[str, str]) -> None:
    load_settings(tmp_path, environ=environ)


def test_references_with_hosts_and_digests() -> None:
    check_reference("Registry.example:443/a/b:t@sha256:" + "a" * 64, "X")
    with pytest.raises(ProjectError, match="its digest 'sha256:xyz' is not"):
        check_reference("a/b@sha256:xyz", "X")
    with pytest.raises(ProjectError, match=r"its tag 't+' is invalid"):
        check_reference("a/b:" + "t" * 129, "X")
    with pytest.raises(ProjectError, match=r"its registry host 'bad_host\.io' is not"):
        check_reference("bad_host.io/a", "X")
    with pytest.raises(ProjectError, match="its repository 'a/B' is invalid"):
        check_reference("a/B:1", "X")


def test_a_missing_user_is_one_error() -> None:
    assert user_path("~/x", "it") == Path.home() / "x"
    with pytest.raises(ProjectError, match=r"^it '~nosuchuser/x' starts with ~nosuchuser"):
        user_path("~nosuchuser/x", "it")


def test_settings_errors_are_one_line_from_the_tasks() -> None:
    done = invoke("show-git-info", env={"LLAMA_IMAGES_VARIANT": "cpu"})
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: unknown setting LLAMA_IMAGES_VARIANT in the environment: "
        "did you mean LLAMA_IMAGES_VARIANTS?"
    )
    done = invoke("build-local", "--dry-run", env={"LLAMA_IMAGES_REPO": "Llama"})
    assert done.returncode == 1
    assert done.stderr.startswith("error: LLAMA_IMAGES_REPO 'Llama' is not a valid image")
    assert len(done.stderr.strip().splitlines()) == 1
