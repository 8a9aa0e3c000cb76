"""Image reference grammar (the OCI distribution rules): checked before anything is built."""

from __future__ import annotations

import re
from dataclasses import dataclass

from llama_images.errors import ProjectError

PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
REPOSITORY = re.compile(rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
# A registry setting is a host, optionally followed by a namespace: ghcr.io/owner
REGISTRY = re.compile(rf"{_HOST}(?:/{PATH_COMPONENT})*")
HOST = re.compile(_HOST)
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
MAX_NAME_LENGTH = 255

REPOSITORY_RULE = (
    "lower-case letters and digits, in components joined by '.', '_', '__' or dashes, "
    "separated by '/' (e.g. llama.cpp or owner/llama.cpp)"
)


def check_repository(value: str, setting: str) -> None:
    if not REPOSITORY.fullmatch(value) or len(value) > MAX_NAME_LENGTH:
        raise ProjectError(
            f"{setting} {value!r} is not a valid image repository name: use {REPOSITORY_RULE}"
        )


def check_registry(value: str, setting: str) -> None:
    if not REGISTRY.fullmatch(value.rstrip("/")):
        raise ProjectError(
            f"{setting} {value!r} is not a registry: use a host, optionally with a port and "
            "a lower-case namespace (e.g. localhost:5000 or ghcr.io/owner)"
        )


def check_tag(value: str, setting: str) -> None:
    if problem := _tag_problem(value):
        raise ProjectError(f"{setting} {value!r} is not a valid image tag: {problem}")


def _tag_problem(tag: str) -> str | None:
    if TAG.fullmatch(tag):
        return None
    return "a tag is at most 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"


def _has_host(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first != first.lower()


def reference_problem(value: str) -> str | None:
    """What makes [host[:port]/]repository[:tag][@digest] invalid, or None."""
    name, _, digest = value.partition("@")
    if digest and not DIGEST.fullmatch(digest):
        return f"its digest {digest!r} is not algorithm:hex"
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        name = head
        if problem := _tag_problem(tag):
            return f"its tag {tag!r} is invalid: {problem}"
    first, slash, rest = name.partition("/")
    if slash and _has_host(first):
        if not HOST.fullmatch(first):
            return f"its registry host {first!r} is not a host name"
        name = rest
    if not REPOSITORY.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        return f"its repository {name!r} is invalid: use {REPOSITORY_RULE}"
    return None


def check_reference(value: str, setting: str) -> None:
    if problem := reference_problem(value):
        raise ProjectError(f"{setting} {value!r} is not a valid image reference: {problem}")


@dataclass(frozen=True)
class Repository:
    """An image repository: its registry host ('' when the name alone is given) and its name
    there. `localhost:5000/owner/llama.cpp` is host `localhost:5000`, name `owner/llama.cpp`."""

    host: str
    name: str

    def __str__(self) -> str:
        return f"{self.host}/{self.name}" if self.host else self.name

    def at(self, tag: object) -> str:
        """The reference of one tag in this repository."""
        return f"{self}:{tag}"

    @classmethod
    def parse(cls, text: str) -> Repository:
        first, slash, rest = text.partition("/")
        return cls(first, rest) if slash and _has_host(first) else cls("", text)

    @classmethod
    def in_registry(cls, text: str) -> Repository:
        """A repository the project talks to a registry about: it must name the host."""
        repository = cls.parse(text)
        if not repository.host:
            raise ProjectError(f"{text} names no registry host: set LLAMA_IMAGES_REGISTRY")
        return repository

    @classmethod
    def split(cls, reference: str) -> tuple[Repository, str]:
        """`[host/]name[:tag]` -> its repository and tag (`latest` when it has none)."""
        head, colon, tag = reference.rpartition(":")
        if not colon or "/" in tag:
            return cls.parse(reference), "latest"
        return cls.parse(head), tag
