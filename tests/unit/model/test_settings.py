from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.errors import ProjectError
from llama_images.model.settings import Settings, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings == Settings()
    assert settings.repo == "llama.cpp"
    assert settings.variants == ("cpu", "vulkan")


def test_precedence_defaults_env_file_environment_flags(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "LLAMA_IMAGES_REPO=from-dotenv\nLLAMA_IMAGES_REGISTRY=dotenv.example\n"
        "LLAMA_IMAGES_VARIANTS=cpu,vulkan\n"
    )
    environ = {"LLAMA_IMAGES_REGISTRY": "env.example", "LLAMA_IMAGES_VARIANTS": "vulkan"}
    settings = load_settings(tmp_path, {"variants": "cpu", "repo": None}, environ=environ)
    assert settings.repo == "from-dotenv"  # .env beats the default; a None flag is unset
    assert settings.registry == "env.example"  # the environment beats .env
    assert settings.variants == ("cpu",)  # a flag beats everything


def test_dotenv_does_not_leak_into_the_environment(tmp_path: Path) -> None:
    import os

    (tmp_path / ".env").write_text("LLAMA_IMAGES_REPO=leak-check\n")
    load_settings(tmp_path, environ={})
    assert os.environ.get("LLAMA_IMAGES_REPO") != "leak-check"


def test_bad_base_mode(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="unknown base mode 'sometimes'"):
        load_settings(tmp_path, {"base_mode": "sometimes"}, environ={})


def test_unknown_flag(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="unknown setting"):
        load_settings(tmp_path, {"colour": "blue"}, environ={})


def test_host_platform_default() -> None:
    assert Settings().platforms[0].startswith("linux/")
    assert Settings().changed({"platforms": "linux/amd64, linux/arm64,"}).platforms == (
        "linux/amd64",
        "linux/arm64",
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "base_mode",
            "ofline",
            "unknown base mode 'ofline': choose one of auto, upstream, "
            "offline (did you mean offline?)",
        ),
        (
            "builder_target",
            "prebuild",
            "unknown builder target 'prebuild': choose one of "
            "fromsource, prebuilt (did you mean prebuilt?)",
        ),
        ("variants", " , ", "no variant chosen: name at least one, e.g. --variants cpu"),
        (
            "platforms",
            "linux/amd46",
            "unsupported platform 'linux/amd46': supported are linux/amd64, linux/arm64, "
            "linux/s390x (did you mean linux/amd64?)",
        ),
    ],
)
def test_values_are_typed_at_load(tmp_path: Path, name: str, text: str, message: str) -> None:
    environ = {f"LLAMA_IMAGES_{name.upper()}": text}
    with pytest.raises(ProjectError) as raised:
        load_settings(tmp_path, environ=environ)
    assert str(raised.value) == message
