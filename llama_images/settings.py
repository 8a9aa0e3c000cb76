"""Settings: defaults, then `.env`, then the environment, then command-line flags."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from dotenv import dotenv_values

from llama_images.errors import ProjectError
from llama_images.gitinfo import web_address

ENV_PREFIX = "LLAMA_IMAGES_"
BASE_MODES = ("auto", "upstream", "offline")


def _host_platform() -> str:
    machine = platform.machine().lower()
    return {
        "x86_64": "linux/amd64",
        "amd64": "linux/amd64",
        "aarch64": "linux/arm64",
        "arm64": "linux/arm64",
    }.get(machine, f"linux/{machine}")


@dataclass(frozen=True)
class Settings:
    """Every knob of the project; each field can be set as LLAMA_IMAGES_<NAME>."""

    repo: str = "llama.cpp"
    registry: str = ""
    variants: str = "cpu,vulkan"  # the variants a machine with no GPU builds and runs
    platforms: str = ""  # empty: the host's platform
    base_mode: str = "auto"
    cache_dir: str = "~/.cache/llama-images"
    source_path: str = ""  # a local llama.cpp checkout that overrides the pinned source
    debian_mirror: str = ""  # empty: the mirror of the host's apt configuration
    docker: str = "/usr/bin/docker"
    release_branch: str = "main"
    remote: str = "origin"
    # The repository's https address, for the images' source and url labels; empty: the
    # git remote's, else GitHub Actions' repository, else none.
    source_url: str = ""
    results_dir: str = "results"
    targets: str = "runtime,server"  # add `media` for the flavour with ffmpeg
    # `fromsource` builds each toolchain stage; `prebuilt` uses `invoke build-builders`' images.
    builder_target: str = "fromsource"
    # A registry holding exported ccache images: builds read them, `export-ccache` writes.
    ccache_registry: str = ""
    # One image used as build and runtime base of every variant, like the offline base
    # (a rebuilt base, say); empty: the catalog's bases, resolved by base_mode.
    base_override: str = ""

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @property
    def platform_list(self) -> list[str]:
        chosen = [p.strip() for p in self.platforms.split(",") if p.strip()]
        return chosen or [_host_platform()]

    @property
    def target_list(self) -> list[str]:
        return [v.strip() for v in self.targets.split(",") if v.strip()]

    @property
    def variant_list(self) -> list[str]:
        return [v.strip() for v in self.variants.split(",") if v.strip()]

    def validate(self) -> Settings:
        if self.base_mode not in BASE_MODES:
            raise ProjectError(
                f"unknown base mode {self.base_mode!r}: choose one of {', '.join(BASE_MODES)}"
            )
        if not self.repo or " " in self.repo:
            raise ProjectError(f"invalid image repository name {self.repo!r}")
        if not self.variant_list:
            raise ProjectError("no variant chosen: name at least one, e.g. --variants cpu")
        if not self.target_list:
            raise ProjectError("no target chosen: name at least one, e.g. --targets server")
        if self.source_url and web_address(self.source_url) is None:
            raise ProjectError(
                f"source URL {self.source_url!r} is not a web address: set "
                f"{ENV_PREFIX}SOURCE_URL to one like https://github.com/Owner/Repo"
            )
        return self


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def _pick(source: Mapping[str, str | None], prefix: str) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for name in setting_names():
        value = source.get(prefix + name.upper())
        if value is not None:
            chosen[name] = value
    return chosen


def load_settings(
    root: Path,
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolves settings in order of precedence: defaults < .env < environment < flags."""
    env_file = root / ".env"
    chosen: dict[str, str] = {}
    if env_file.is_file():
        chosen.update(_pick(dotenv_values(env_file), ENV_PREFIX))
    chosen.update(_pick(os.environ if environ is None else environ, ENV_PREFIX))
    for name, value in (flags or {}).items():
        if name not in setting_names():
            raise ProjectError(f"unknown setting {name!r}")
        if value is not None:
            chosen[name] = value
    return replace(Settings(), **chosen).validate()
