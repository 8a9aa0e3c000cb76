"""The variant catalog, read from `base-images/variants.toml`."""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, get_type_hints

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from llama_images.building.dockerfile import parse_dockerfile
from llama_images.errors import ProjectError, did_you_mean

CATALOG_FILE = "variants.toml"
# The keys of the catalog's top level; every other table's keys are its dataclass's fields.
TOP_LEVEL_KEYS = ("offline", "web_ui", "runtime_package_reasons", "variants")
TRIPLES = {
    "linux/amd64": "x86_64-unknown-linux-gnu",
    "linux/arm64": "aarch64-unknown-linux-gnu",
    "linux/s390x": "s390x-unknown-linux-gnu",
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
    # False: apt accepts the suite's Release file past its Valid-Until date.
    check_valid_until: bool = True

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.suite}"

    def ref_on(self, platform: str) -> str:
        """This base for another platform than the host's (an engine's image store holds one
        platform per tag)."""
        return f"{self.ref}-{platform.rsplit('/', 1)[-1]}"

    def for_variant(self, profile: OfflineProfile) -> OfflineBase:
        """The base a variant's offline profile builds on: this one, or its own suite's."""
        if not profile.suite:
            return self
        return replace(self, suite=profile.suite, check_valid_until=profile.check_valid_until)


@dataclass(frozen=True)
class WebUi:
    """How the web UI (the pinned source's tools/ui) is built, once for every variant."""

    # The base of the `web` stage where upstream's bases are pulled; the offline profile
    # uses the offline base. Its output is the same for every platform.
    base: str
    packages: tuple[str, ...]  # Node and npm, from the base's distribution


@dataclass(frozen=True)
class Smoke:
    """How the image tests run a variant: extra environment, arguments, the device to expect."""

    environment: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    device_log: str = ""
    # "nvidia-gpu", "amd-gpu": the image only runs on a host with that GPU and its driver;
    # "big-endian-model": it only reads big-endian models.
    requires: str = ""
    # Name prefixes of the toolkit libraries (a device plugin, say) the server must map
    # from the variant folder when run this way, besides the backend modules.
    mapped_libraries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """What a variant's Dockerfile is rendered from, with the stages of base-images/templates/.

    Lists of packages and shell lines are data the shared stage text is filled with;
    `based_on` names another variant whose recipe this one repeats, but for the keys it
    gives (`global_args` are merged).
    """

    build_packages: tuple[str, ...]
    runtime_packages: tuple[str, ...]
    based_on: str = ""
    packager: str = "apt"  # apt | yum: the installer script and its cache mounts
    notes: str = ""  # the recipe's opening comment
    # ARGs before the first FROM, in order (upstream's names, for toolkit versions and bases).
    global_args: dict[str, str] = field(default_factory=dict)
    build_base: str = ""  # BUILD_BASE's default; the catalog's bases.build when empty
    runtime_base: str = ""  # RUNTIME_BASE's default; the catalog's bases.runtime when empty
    builder_args: tuple[str, ...] = ()  # global ARGs the toolchain stage uses
    builder_setup: tuple[str, ...] = ()  # shell lines run after its packages are installed
    builder_env: dict[str, str] = field(default_factory=dict)
    # Toolkit library folders (or colon lists) the dynamic linker is told of.
    register_libraries: tuple[str, ...] = ()
    compile_args: tuple[str, ...] = ()  # global ARGs the compile step uses
    compile_prelude: tuple[str, ...] = ()  # shell lines before compile.sh (may `set --` flags)
    cmake: dict[str, str] = field(default_factory=dict)  # the backend's -D flags
    # One object (build-folder path) compiled beside the rest of its target as soon as the
    # generated file it needs exists, instead of after all the target's generated sources:
    # {object = generated file}; compile.sh does it in the tree's first compile, and stops
    # where the toolchain lacks Ninja or the object is not a target.
    compile_first: dict[str, str] = field(default_factory=dict)
    runtime_args: tuple[str, ...] = ()
    runtime_setup: tuple[str, ...] = ()
    runtime_env: dict[str, str] = field(default_factory=dict)
    clear_entrypoint: bool = False  # for vendor bases that set an ENTRYPOINT of their own
    # Toolkit libraries (paths in the toolchain stage, globs allowed) that the folder carries
    # beside the backend module, their RUNPATH made $ORIGIN: a toolkit no base provides.
    toolkit_libraries: tuple[str, ...] = ()
    # The target's libraries among build_packages, which a cross build (arm64 on an amd64
    # host) installs as PACKAGE:ARCH beside the cross compilers; empty: never cross-built.
    cross_packages: tuple[str, ...] = ()
    server_packages: tuple[str, ...] = ("curl", "ca-certificates")
    media_packages: tuple[str, ...] = ("ffmpeg",)


PACKAGERS = ("apt", "yum")


@dataclass(frozen=True)
class Toolkit:
    """The accelerator toolkit a variant is built with; its version comes from a build arg,
    or from the wheel that carries it.

    `wheel`: a PyPI wheel's file name. The host fetches it (build containers may not reach
    PyPI), checks it against `sha256` on every use and stages it in the build context; the
    toolchain stage checks it again and unpacks it into /opt/<name>/.
    """

    name: str = ""
    version_arg: str = ""
    wheel: str = ""
    sha256: str = ""

    @property
    def wheel_project(self) -> str:
        return str(parse_wheel_filename(self.wheel)[0])

    @property
    def wheel_version(self) -> str:
        return str(parse_wheel_filename(self.wheel)[1])


@dataclass(frozen=True)
class OfflineProfile:
    """How a variant builds on the debootstrapped Debian base, if it can."""

    supported: bool = False
    # The debootstrapped suite it builds and runs on, when not the [offline] one, and
    # whether apt checks that suite's Release file for expiry.
    suite: str = ""
    check_valid_until: bool = True
    build_args: dict[str, str] = field(default_factory=dict)
    toolkit_version: str = ""
    toolchain: str = ""  # when it differs from the variant's
    reason: str = ""  # why it cannot, when the base is not what is missing


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
    recipe: Recipe
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

    def is_toolkit_library(self, name: str) -> bool:
        """Whether a file of the variant folder is one of the toolkit libraries it carries."""
        return any(
            fnmatch.fnmatchcase(name, PurePosixPath(pattern).name)
            for pattern in self.recipe.toolkit_libraries
        )


@dataclass(frozen=True)
class Catalog:
    root: Path
    offline: OfflineBase
    web_ui: WebUi
    variants: dict[str, Variant]

    def select(self, names: list[str]) -> list[Variant]:
        """The named variants, in catalog order; an unknown name is an error."""
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise ProjectError(
                f"unknown variant {', '.join(unknown)}: known variants are "
                f"{', '.join(self.variants)}{did_you_mean(unknown[0], self.variants)}"
            )
        return [v for n, v in self.variants.items() if n in names]


MACHINES = {"x86_64": "linux/amd64", "aarch64": "linux/arm64", "s390x": "linux/s390x"}


def host_platform() -> str:
    """The platform this host builds natively: the others are cross-compiled or emulated."""
    machine = os.uname().machine
    return MACHINES.get(machine, f"linux/{machine}")


def gnu_triple(platform: str) -> str:
    """Debian's name of a platform's target (aarch64-linux-gnu), for its cross compilers."""
    return triple_for(platform).replace("-unknown-", "-")


def triple_for(platform: str) -> str:
    try:
        return TRIPLES[platform]
    except KeyError:
        raise ProjectError(
            f"unsupported platform {platform!r}: supported are {', '.join(TRIPLES)}"
        ) from None


@dataclass(frozen=True)
class _Tables:
    """Reads the catalog's tables into dataclasses, each key checked against their fields."""

    path: Path

    def error(self, problem: str) -> ProjectError:
        return ProjectError(f"variant catalog {self.path}: {problem}")

    def free_form(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"[{where}] is missing or is not a table")
        return value

    def check_keys(self, table: dict[str, Any], valid: Sequence[str], where: str) -> None:
        for key in table:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(valid)}"
                raise self.error(f"unknown key {key!r} in {where}: {hint}")

    def entries(
        self, cls: type, value: object, where: str, derived: Collection[str] = ()
    ) -> dict[str, Any]:
        """A table as keyword arguments of `cls` (lists become tuples); `derived` are not keys."""
        table = self.free_form(value, where)
        keys = [f for f in fields(cls) if f.name not in derived]
        self.check_keys(table, [f.name for f in keys], f"[{where}]")
        for required in keys:
            no_default = required.default is MISSING and required.default_factory is MISSING
            if no_default and required.name not in table:
                raise self.error(f"[{where}] lacks the required key {required.name!r}: add it")
        return {key: tuple(v) if isinstance(v, list) else v for key, v in table.items()}

    def variant(
        self,
        name: str,
        value: object,
        base_images: Path,
        shared_reasons: dict[str, str],
        all_tables: dict[str, Any],
    ) -> Variant:
        where = f"variants.{name}"
        entries = self.entries(Variant, value, where, derived={"name"})
        if "recipe" in entries:
            entries["recipe"] = self.recipe_table(entries["recipe"], f"{where}.recipe", all_tables)
        for key, cls in _sub_tables(Variant).items():
            if key in entries:
                entries[key] = cls(**self.entries(cls, entries[key], f"{where}.{key}"))
        own_reasons = self.free_form(
            entries.get("runtime_package_reasons", {}), f"{where}.runtime_package_reasons"
        )
        entries["runtime_package_reasons"] = {**shared_reasons, **own_reasons}
        entries["dockerfile"] = base_images / entries["dockerfile"]
        return Variant(name=name, **entries)

    def recipe_table(self, value: object, where: str, all_tables: dict[str, Any]) -> dict[str, Any]:
        """A recipe table with what it is `based_on` filled in."""
        table = self.free_form(value, where)
        base_name = table.get("based_on", "")
        if not base_name:
            return table
        base = all_tables.get(base_name, {}).get("recipe")
        if not isinstance(base, dict) or base.get("based_on"):
            raise self.error(
                f"[{where}] is based_on {base_name!r}, which is no variant's own recipe"
            )
        merged = {**base, **table}
        merged["global_args"] = {**base.get("global_args", {}), **table.get("global_args", {})}
        return merged


def _sub_tables(cls: type) -> dict[str, type]:
    """The fields of `cls` that are dataclasses themselves: tables of their own in the file."""
    types = get_type_hints(cls)
    return {f.name: types[f.name] for f in fields(cls) if is_dataclass(types[f.name])}


def load_catalog(base_images: Path) -> Catalog:
    path = base_images / CATALOG_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"variant catalog {path} is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"variant catalog {path} is not valid TOML: {exc}") from None
    tables = _Tables(path)
    tables.check_keys(data, TOP_LEVEL_KEYS, "the top level")
    offline = OfflineBase(**tables.entries(OfflineBase, data.get("offline"), "offline"))
    web_ui = WebUi(**tables.entries(WebUi, data.get("web_ui"), "web_ui"))
    shared_reasons = tables.free_form(
        data.get("runtime_package_reasons", {}), "runtime_package_reasons"
    )
    variant_tables = tables.free_form(data.get("variants"), "variants")
    variants = {
        name: tables.variant(name, entry, base_images, shared_reasons, variant_tables)
        for name, entry in variant_tables.items()
    }
    recipes: dict[Path, str] = {}
    for variant in variants.values():
        if variant.dockerfile in recipes:
            raise tables.error(
                f"variants {recipes[variant.dockerfile]} and {variant.name} name one dockerfile"
                f" ({variant.dockerfile.name}): each variant's recipe is rendered to its own"
            )
        recipes[variant.dockerfile] = variant.name
        if variant.recipe.packager not in PACKAGERS:
            raise tables.error(
                f"variant {variant.name}: packager {variant.recipe.packager!r} is not one of "
                f"{', '.join(PACKAGERS)}"
            )
        for platform in variant.platforms:
            triple_for(platform)
        core = variant.composition.core
        if core and (core not in variants or variants[core].composition.core):
            raise ProjectError(f"variant {variant.name}: core {core!r} is not a variant's core")
        if variant.is_gpu and not core and not variant.composition.reason:
            raise ProjectError(f"variant {variant.name}: say why it builds its own core (reason)")
        if variant.toolkit.wheel or variant.toolkit.sha256:
            _check_wheel(variant, tables)
        if len(variant.recipe.compile_first) > 1:
            raise tables.error(
                f"[variants.{variant.name}.recipe] compile_first names "
                f"{len(variant.recipe.compile_first)} objects: compile.sh starts one early"
            )
    return Catalog(root=base_images, offline=offline, web_ui=web_ui, variants=variants)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_wheel(variant: Variant, tables: _Tables) -> None:
    toolkit = variant.toolkit
    where = f"[variants.{variant.name}.toolkit]"
    try:
        parse_wheel_filename(toolkit.wheel)
    except InvalidWheelFilename:
        raise tables.error(f"{where} wheel {toolkit.wheel!r} is no wheel's file name") from None
    if not _SHA256.fullmatch(toolkit.sha256):
        raise tables.error(f"{where} sha256 {toolkit.sha256!r} is not 64 lowercase hex digits")
    if not toolkit.name:
        raise tables.error(f"{where} lacks the name its wheel is unpacked under (/opt/<name>/)")
    if toolkit.version_arg:
        raise tables.error(f"{where} has a wheel: its version is the wheel's, drop version_arg")


def toolkit_version(variant: Variant, profile: str) -> str:
    """The toolkit version a variant is built with under a base profile ('' if none)."""
    if not variant.toolkit.name:
        return ""
    if variant.toolkit.wheel:
        return variant.toolkit.wheel_version  # the same wheel under every profile
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
