"""The variant catalog, read from `base-images/variants.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from llama_images.errors import ProjectError

CATALOG_FILE = "variants.toml"
TRIPLES = {
    "linux/amd64": "x86_64-unknown-linux-gnu",
    "linux/arm64": "aarch64-unknown-linux-gnu",
}


@dataclass(frozen=True)
class Bases:
    build: str
    runtime: str


@dataclass(frozen=True)
class OfflineBase:
    suite: str
    components: tuple[str, ...]
    image: str

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.suite}"


@dataclass(frozen=True)
class Variant:
    name: str
    dockerfile: Path
    upstream_dockerfile: str
    description: str
    platforms: tuple[str, ...]
    toolchain: str
    backend_modules: tuple[str, ...]
    bases: Bases


@dataclass(frozen=True)
class Catalog:
    root: Path
    offline: OfflineBase
    variants: dict[str, Variant]

    def select(self, names: list[str]) -> list[Variant]:
        """The named variants, in catalog order; an unknown name is an error."""
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise ProjectError(
                f"unknown variant {', '.join(unknown)}: known variants are "
                f"{', '.join(self.variants)}"
            )
        return [v for n, v in self.variants.items() if n in names]


def triple_for(platform: str) -> str:
    try:
        return TRIPLES[platform]
    except KeyError:
        raise ProjectError(
            f"unsupported platform {platform!r}: supported are {', '.join(TRIPLES)}"
        ) from None


def load_catalog(base_images: Path) -> Catalog:
    path = base_images / CATALOG_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"variant catalog {path} is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"variant catalog {path} is not valid TOML: {exc}") from None
    try:
        offline = OfflineBase(
            suite=data["offline"]["suite"],
            components=tuple(data["offline"]["components"]),
            image=data["offline"]["image"],
        )
        variants = {
            name: Variant(
                name=name,
                dockerfile=base_images / entry["dockerfile"],
                upstream_dockerfile=entry["upstream_dockerfile"],
                description=entry["description"],
                platforms=tuple(entry["platforms"]),
                toolchain=entry["toolchain"],
                backend_modules=tuple(entry["backend_modules"]),
                bases=Bases(build=entry["bases"]["build"], runtime=entry["bases"]["runtime"]),
            )
            for name, entry in data["variants"].items()
        }
    except (KeyError, TypeError) as exc:
        raise ProjectError(f"variant catalog {path} lacks a required field: {exc}") from None
    for variant in variants.values():
        if not variant.dockerfile.is_file():
            raise ProjectError(f"variant {variant.name}: {variant.dockerfile} does not exist")
        for platform in variant.platforms:
            triple_for(platform)
    return Catalog(root=base_images, offline=offline, variants=variants)
