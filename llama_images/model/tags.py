"""The tags of the images this project builds: written and read back here only."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from llama_images.errors import ProjectError
from llama_images.model.catalog import TRIPLES
from llama_images.model.version import BuildVersion

RUNTIME = "runtime"
# `runtime` is the base layer applications build on; `server` runs llama-server.
TARGETS = (RUNTIME, "server")
# Optional targets a variant may offer (its catalog `flavours`): `media` adds ffmpeg.
FLAVOURS = ("media",)
# The targets a tag names; the runtime target goes unnamed.
NAMED_TARGETS = tuple(target for target in (*TARGETS, *FLAVOURS) if target != RUNTIME)
LATEST = "latest"
TAG_FORMAT = (
    "<variant>[-<target>]-<yymmddhhmm-githash>[-<arch>], latest-<variant>[-<target>][-<arch>] "
    "or <variant>[-<target>]-b<llama.cpp build>"
)


def architecture(platform: str) -> str:
    """`linux/arm64` -> `arm64`."""
    return platform.rsplit("/", 1)[-1]


ARCHITECTURES = tuple(architecture(platform) for platform in TRIPLES)


@dataclass(frozen=True)
class ImageTag:
    """`<variant>[-<target>]-<version>`, or the moving `latest-<variant>[-<target>]` when
    `version` is None; the runtime target goes unnamed. `arch` suffixes the tags of a
    several-platform local build and those a platform is pushed under before the merge.
    With `build`, `<variant>[-<target>]-b<build>`: moves to the newest release made from
    that llama.cpp build, the tag to pin when a rolling tag breaks."""

    variant: str
    target: str = RUNTIME
    version: BuildVersion | None = None
    arch: str = ""
    build: int | None = None

    @property
    def flavour(self) -> str:
        return self.variant if self.target == RUNTIME else f"{self.variant}-{self.target}"

    def __str__(self) -> str:
        if self.build is not None:
            tag = f"{self.flavour}-b{self.build}"
        elif self.version is None:
            tag = f"{LATEST}-{self.flavour}"
        else:
            tag = f"{self.flavour}-{self.version}"
        return f"{tag}-{self.arch}" if self.arch else tag

    def latest(self) -> ImageTag:
        """The moving tag of the same image."""
        return replace(self, version=None, build=None)

    def of_build(self, build: int) -> ImageTag:
        """The moving tag of the newest release of the same image made from a llama.cpp build."""
        return replace(self, version=None, build=build)

    def on(self, platform: str) -> ImageTag:
        """The same tag for one platform's image."""
        return replace(self, arch=architecture(platform))

    @classmethod
    def parse(cls, text: str) -> ImageTag:
        """The tag `text` formats back to; a tag of any other shape is a ProjectError."""
        rest, arch = _split_last(text, ARCHITECTURES)
        version: BuildVersion | None = None
        build = _BUILD_SUFFIX.search(rest)
        if build and not arch:
            variant, target = _split_last(rest[: build.start()], NAMED_TARGETS)
            if not variant:
                raise _not_a_tag(text)
            return cls(variant, target or RUNTIME, build=int(build[1]))
        if rest.startswith(f"{LATEST}-"):
            flavour = rest.removeprefix(f"{LATEST}-")
        else:
            flavour, version = _split_version(text, rest)
        variant, target = _split_last(flavour, NAMED_TARGETS)
        if not variant:
            raise _not_a_tag(text)
        return cls(variant, target or RUNTIME, version, arch)


_BUILD_SUFFIX = re.compile(r"-b([0-9]+)$")


def _split_last(text: str, suffixes: tuple[str, ...]) -> tuple[str, str]:
    """`text` less its last dash-separated part when that part is one of `suffixes`."""
    head, _, last = text.rpartition("-")
    return (head, last) if last in suffixes else (text, "")


def _split_version(text: str, rest: str) -> tuple[str, BuildVersion]:
    """`<flavour>-<yymmddhhmm>-<githash>` -> the flavour and the version."""
    flavour, *version = rest.rsplit("-", 2)
    try:
        return flavour, BuildVersion.parse("-".join(version))
    except ProjectError:
        raise _not_a_tag(text) from None


def _not_a_tag(text: str) -> ProjectError:
    return ProjectError(f"{text!r} is not an image tag of this project: expected {TAG_FORMAT}")
