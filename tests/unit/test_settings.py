from __future__ import annotations

from pathlib import Path

import pytest

from llama_images.errors import ProjectError
from llama_images.settings import Settings, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings == Settings()
    assert settings.repo == "llama.cpp"
    assert settings.variant_list == ["cpu", "vulkan"]


def test_precedence_defaults_env_file_environment_flags(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "LLAMA_IMAGES_REPO=from-dotenv\nLLAMA_IMAGES_REGISTRY=dotenv.example\n"
        "LLAMA_IMAGES_VARIANTS=cpu,vulkan\n"
    )
    environ = {"LLAMA_IMAGES_REGISTRY": "env.example", "LLAMA_IMAGES_VARIANTS": "vulkan"}
    settings = load_settings(tmp_path, {"variants": "cpu", "repo": None}, environ=environ)
    assert settings.repo == "from-dotenv"  # .env beats the default; a None flag is unset
    assert settings.registry == "env.example"  # the environment beats .env
    assert settings.variants == "cpu"  # a flag beats everything


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
    assert Settings().platform_list[0].startswith("linux/")
    assert Settings(platforms="linux/amd64, linux/arm64").platform_list == [
        "linux/amd64",
        "linux/arm64",
    ]
