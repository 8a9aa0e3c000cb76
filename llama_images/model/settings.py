"""Settings: defaults, then `.env`, then the environment, then command-line flags."""

from __future__ import annotations

import difflib
import io
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from dotenv import dotenv_values
from dotenv.parser import Binding, parse_stream

from llama_images.adapters.gitinfo import web_address
from llama_images.errors import ProjectError
from llama_images.model.catalog import TRIPLES
from llama_images.model.reference import check_reference, check_registry, check_repository
from llama_images.paths import read_utf8, user_path

ENV_PREFIX = "LLAMA_IMAGES_"
BaseMode = Literal["auto", "upstream", "offline"]
BuilderTarget = Literal["fromsource", "prebuilt"]
# How publishing signs: `auto` is `key` when a key is set, else `keyless` in a GitHub Actions
# job holding an OIDC token, else a refusal; `none` publishes unsigned, only when chosen.
SigningMode = Literal["auto", "key", "keyless", "none"]
BASE_MODES: tuple[str, ...] = get_args(BaseMode)
BUILDER_TARGETS: tuple[str, ...] = get_args(BuilderTarget)
SIGNING_MODES: tuple[str, ...] = get_args(SigningMode)
# What a value names, for the one-line error about it.
_WHAT = {"base_mode": "base mode", "builder_target": "builder target", "signing": "signing mode"}
# LLAMA_IMAGES_* names that the CI workflow and the tests read: not settings, yet not typos.
NOT_SETTINGS = frozenset(
    ENV_PREFIX + name
    for name in (
        "ACTIONS_DIR",
        "CI_PLATFORMS",
        "CI_VARIANTS",
        "OWNER",
        "REGISTRY_TOKEN",
        "REGISTRY_USER",
        "SMOKE_FILTER",
        "SOAK_SECONDS",
        "VOCAB",
    )
)


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
    # Lists are written comma-separated in .env, the environment and flags.
    variants: tuple[str, ...] = ("cpu", "vulkan")  # what a machine with no GPU builds and runs
    platforms: tuple[str, ...] = field(default_factory=lambda: (_host_platform(),))
    base_mode: BaseMode = "auto"
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
    targets: tuple[str, ...] = ("runtime", "server")  # add `media` for the flavour with ffmpeg
    # `fromsource` builds each toolchain stage; `prebuilt` uses `invoke build-builders`' images.
    builder_target: BuilderTarget = "fromsource"
    # A registry holding exported ccache images: builds read them, `export-ccache` writes.
    ccache_registry: str = ""
    # One image used as build and runtime base of every variant, like the offline base
    # (a rebuilt base, say); empty: the catalog's bases, resolved by base_mode.
    base_override: str = ""
    # cosign signs every published image and attaches its SBOM (see SigningMode).
    signing: SigningMode = "auto"
    # The cosign private key: a path, or a reference cosign reads (env://NAME, a KMS URI);
    # its password comes from COSIGN_PASSWORD, as cosign reads it.
    cosign_key: str = ""

    @property
    def cache_path(self) -> Path:
        return user_path(self.cache_dir, f"{ENV_PREFIX}CACHE_DIR")

    def changed(self, values: Mapping[str, str]) -> Settings:
        """These settings with some replaced by values written as text; checked as at load."""
        return replace(
            self, **{name: _typed(name, text) for name, text in values.items()}
        ).validate()

    def validate(self) -> Settings:
        check_repository(self.repo, f"{ENV_PREFIX}REPO")
        for name in ("registry", "ccache_registry"):
            if value := getattr(self, name):
                check_registry(value, ENV_PREFIX + name.upper())
        if self.base_override:
            check_reference(self.base_override, f"{ENV_PREFIX}BASE_OVERRIDE")
        for name in ("cache_dir", "source_path"):
            if value := getattr(self, name):
                user_path(value, ENV_PREFIX + name.upper())
        if self.cosign_key and "://" not in self.cosign_key:
            user_path(self.cosign_key, f"{ENV_PREFIX}COSIGN_KEY")
        if not self.variants:
            raise ProjectError("no variant chosen: name at least one, e.g. --variants cpu")
        if not self.targets:
            raise ProjectError("no target chosen: name at least one, e.g. --targets server")
        for name in self.platforms:
            if name not in TRIPLES:
                closest = difflib.get_close_matches(name, list(TRIPLES), n=1)
                hint = f" (did you mean {closest[0]}?)" if closest else ""
                raise ProjectError(
                    f"unsupported platform {name!r}: supported are {', '.join(TRIPLES)}{hint}"
                )
        if self.source_url and web_address(self.source_url) is None:
            raise ProjectError(
                f"source URL {self.source_url!r} is not a web address: set "
                f"{ENV_PREFIX}SOURCE_URL to one like https://github.com/Owner/Repo"
            )
        return self


def _typed(name: str, text: str) -> Any:
    """A setting's value from its text: a comma-separated list, one of a set of words, or text."""
    kind = get_type_hints(Settings)[name]
    if get_origin(kind) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if get_origin(kind) is Literal:
        choices: tuple[str, ...] = get_args(kind)
        if text not in choices:
            closest = difflib.get_close_matches(text, choices, n=1)
            hint = f" (did you mean {closest[0]}?)" if closest else ""
            raise ProjectError(
                f"unknown {_WHAT[name]} {text!r}: choose one of {', '.join(choices)}{hint}"
            )
    return text


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def environment_names() -> list[str]:
    return [ENV_PREFIX + name.upper() for name in setting_names()]


def check_name(name: str, where: str) -> None:
    """An LLAMA_IMAGES_* name that is no setting is a typo: never silently ignored."""
    if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS or name in environment_names():
        return
    closest = difflib.get_close_matches(name, environment_names(), n=1)
    hint = f"did you mean {closest[0]}?" if closest else "see the Settings class in settings.py"
    raise ProjectError(f"unknown setting {name} in {where}: {hint}")


def _pick(source: Mapping[str, str | None], prefix: str) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for name in setting_names():
        value = source.get(prefix + name.upper())
        if value is not None:
            chosen[name] = value
    return chosen


def _parse_problem(statement: str) -> str:
    _, equals, value = statement.partition("=")
    value = value.strip()
    if equals and value[:1] in {"'", '"'} and value.count(value[0]) % 2:
        return f"its {value[0]} quote is never closed"
    return "python-dotenv cannot parse it (write NAME=value)"


def _line_of(binding: Binding) -> int:
    # python-dotenv counts a statement from the blank lines before it: skip those.
    text = binding.original.string
    return binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")


def read_env_file(path: Path) -> dict[str, str]:
    """The settings a .env file sets; a line python-dotenv cannot read is an error, not skipped."""
    text = read_utf8(path)
    for binding in parse_stream(io.StringIO(text)):
        where = f"{path} line {_line_of(binding)}"
        if binding.error:
            raise ProjectError(f"{where}: {_parse_problem(binding.original.string)}")
        if binding.key is None or not binding.key.startswith(ENV_PREFIX):
            continue
        check_name(binding.key, where)
        if binding.value is None:
            raise ProjectError(f"{where}: {binding.key} has no value: write {binding.key}=value")
    return _pick(dotenv_values(stream=io.StringIO(text)), ENV_PREFIX)


def load_settings(
    root: Path,
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolves settings in order of precedence: defaults < .env < environment < flags."""
    env_file = root / ".env"
    chosen: dict[str, str] = {}
    if env_file.is_file():
        chosen.update(read_env_file(env_file))
    environment = os.environ if environ is None else environ
    for name in sorted(environment):
        check_name(name, "the environment")
    chosen.update(_pick(environment, ENV_PREFIX))
    for name, value in (flags or {}).items():
        if name not in setting_names():
            raise ProjectError(f"unknown setting {name!r}")
        if value is not None:
            chosen[name] = value
    return Settings().changed(chosen)
