"""The variant catalog, read from `base-images/variants.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from llama_images.dockerfile import parse_dockerfile
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
class Smoke:
    """How the image tests run a variant: extra environment, arguments, the device to expect."""

    environment: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    device_log: str = ""
    # "nvidia-gpu": the image only runs on a host with an NVIDIA GPU and driver.
    requires: str = ""


@dataclass(frozen=True)
class Toolkit:
    """The accelerator toolkit a variant is built with; its version comes from a build arg."""

    name: str = ""
    version_arg: str = ""


@dataclass(frozen=True)
class OfflineProfile:
    """How a variant builds on the debootstrapped Debian base, if it can."""

    supported: bool = False
    build_args: dict[str, str] = field(default_factory=dict)
    toolkit_version: str = ""
    toolchain: str = ""  # when it differs from the variant's


@dataclass(frozen=True)
class Composition:
    """Where a variant's core comes from.

    `core = "cpu"`: the folder is the cpu variant's core plus this variant's
    backend module, whenever both are built on the same build base (otherwise
    the Dockerfile's `core-own` stage builds the same core on this variant's
    base). `core = ""`: one build compiles everything; `reason` says why.
    """

    core: str = ""
    reason: str = ""


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
    smoke: Smoke = field(default_factory=Smoke)
    # CMake flags our Dockerfile sets on purpose that upstream's recipe does not.
    extra_cmake_flags: tuple[str, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    # Sonames only a GPU host's driver provides: allowed to be missing in the image.
    driver_libraries: tuple[str, ...] = ()
    toolkit: Toolkit = field(default_factory=Toolkit)
    offline: OfflineProfile = field(default_factory=OfflineProfile)
    composition: Composition = field(default_factory=Composition)
    # Optional targets beyond runtime and server that the Dockerfile has.
    flavours: tuple[str, ...] = ()
    # Runtime packages that differ from upstream's recipe on purpose: package -> why.
    runtime_package_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def is_gpu(self) -> bool:
        return self.name != "cpu"


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
                smoke=Smoke(
                    environment=dict(entry.get("smoke", {}).get("environment", {})),
                    args=tuple(entry.get("smoke", {}).get("args", ())),
                    device_log=entry.get("smoke", {}).get("device_log", ""),
                    requires=entry.get("smoke", {}).get("requires", ""),
                ),
                extra_cmake_flags=tuple(entry.get("extra_cmake_flags", ())),
                build_args=dict(entry.get("build_args", {})),
                driver_libraries=tuple(entry.get("driver_libraries", ())),
                toolkit=Toolkit(**entry.get("toolkit", {})),
                offline=OfflineProfile(
                    supported=bool(entry.get("offline", {}).get("supported", False)),
                    build_args=dict(entry.get("offline", {}).get("build_args", {})),
                    toolkit_version=entry.get("offline", {}).get("toolkit_version", ""),
                    toolchain=entry.get("offline", {}).get("toolchain", ""),
                ),
                composition=Composition(**entry.get("composition", {})),
                flavours=tuple(entry.get("flavours", ())),
                runtime_package_reasons={
                    **data.get("runtime_package_reasons", {}),
                    **entry.get("runtime_package_reasons", {}),
                },
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
        core = variant.composition.core
        if core and (core not in variants or variants[core].composition.core):
            raise ProjectError(f"variant {variant.name}: core {core!r} is not a variant's core")
        if variant.is_gpu and not core and not variant.composition.reason:
            raise ProjectError(f"variant {variant.name}: say why it builds its own core (reason)")
    return Catalog(root=base_images, offline=offline, variants=variants)


def toolkit_version(variant: Variant, profile: str) -> str:
    """The toolkit version a variant is built with under a base profile ('' if none)."""
    if not variant.toolkit.name:
        return ""
    if profile == "offline":
        return variant.offline.toolkit_version
    arg = variant.toolkit.version_arg
    if arg in variant.build_args:
        return variant.build_args[arg]
    default = parse_dockerfile(variant.dockerfile).global_args.get(arg)
    if not default:
        raise ProjectError(f"{variant.dockerfile.name} has no default for ARG {arg}")
    return default


def toolchain(variant: Variant, profile: str) -> str:
    """The host compiler a variant is built with under a base profile."""
    if profile == "offline" and variant.offline.toolchain:
        return variant.offline.toolchain
    return variant.toolchain
