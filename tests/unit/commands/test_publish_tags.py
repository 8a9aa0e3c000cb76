"""Which tags publishing pushes, merges and moves: checked against fakes, no engine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from llama_images.adapters.engine import Engine
from llama_images.adapters.registry import MANIFEST_TYPES, Descriptor, Registry
from llama_images.commands.publish import ImageGroup, PublishMode, publish_groups, publish_mode
from llama_images.errors import ProjectError
from llama_images.model.version import BuildVersion

VERSION = BuildVersion.parse("2611220312-0a1b2c3")
REPOSITORY = "localhost:5000/owner/llama.cpp"


@dataclass
class FakeEngine:
    calls: list[tuple[str, str]] = field(default_factory=list)

    def tag(self, local: str, ref: str) -> None:
        self.calls.append(("tag", ref))

    def push(self, ref: str, auth: object = None) -> None:
        self.calls.append(("push", ref))

    def untag(self, ref: str) -> None:
        self.calls.append(("untag", ref))

    def pull(self, ref: str, auth: object = None) -> None:
        self.calls.append(("pull", ref))

    def run(self, ref: str, command: list[str], **options: Any) -> tuple[int, str]:
        version_json = {"version": str(VERSION), "variant": "cpu", "server": "/app/llama-server"}
        return 0, json.dumps(version_json)


@dataclass
class FakeRegistry:
    """Holds every platform's image under any tag; records what publishing writes."""

    host: str = "localhost:5000"
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def engine_auth(self) -> None:
        return None

    def manifest(self, name: str, reference: str) -> tuple[Descriptor, dict[str, Any]]:
        self.calls.append(("manifest", name, reference))
        arch = reference.rsplit("-", 1)[-1]
        descriptor = Descriptor(MANIFEST_TYPES[1], f"sha256:{arch}", 1)
        return descriptor, {"config": {"digest": f"sha256:config-{arch}"}}

    def blob(self, name: str, digest: str) -> bytes:
        return json.dumps({"os": "linux", "architecture": digest.rsplit("-", 1)[-1]}).encode()

    def put_manifest(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        self.calls.append(("put_manifest", name, tag))
        return "sha256:index"

    def copy_tag(self, name: str, source: str, tag: str) -> str:
        self.calls.append(("copy_tag", name, source, tag))
        return "sha256:index"


def publish(mode: PublishMode) -> tuple[FakeEngine, FakeRegistry, str, str]:
    engine, registry = FakeEngine(), FakeRegistry()
    group = ImageGroup("cpu", "server", {"linux/amd64": "local-a", "linux/arm64": "local-b"})
    (result,) = publish_groups(
        cast(Engine, engine),
        cast(Registry, registry),
        REPOSITORY,
        VERSION,
        [group],
        mode=mode,
        llama_build=10454,
        signing=None,
    )
    return engine, registry, result.tag, result.latest


def test_push_uses_per_platform_staging_tags() -> None:
    engine, registry, tag, latest = publish("push")
    staging = f"{REPOSITORY}:cpu-server-{VERSION}-amd64"
    assert engine.calls[:3] == [("tag", staging), ("push", staging), ("untag", staging)]
    assert ("manifest", "owner/llama.cpp", f"cpu-server-{VERSION}-arm64") in registry.calls
    assert (tag, latest) == (
        f"{REPOSITORY}:cpu-server-{VERSION}",
        f"{REPOSITORY}:latest-cpu-server",
    )


def test_merge_writes_the_versioned_tag_then_moves_latest() -> None:
    engine, registry, _, _ = publish("merge")
    assert not [call for call in engine.calls if call[0] == "push"]
    writes = [call for call in registry.calls if call[0] != "manifest"]
    assert writes == [
        ("put_manifest", "owner/llama.cpp", f"cpu-server-{VERSION}"),
        ("copy_tag", "owner/llama.cpp", f"cpu-server-{VERSION}", "latest-cpu-server"),
        ("copy_tag", "owner/llama.cpp", f"cpu-server-{VERSION}", "cpu-server-b10454"),
    ]
    assert ("pull", f"{REPOSITORY}@sha256:index") in engine.calls


def test_a_repository_without_a_registry_host_is_refused() -> None:
    with pytest.raises(ProjectError, match="names no registry host: set LLAMA_IMAGES_REGISTRY"):
        publish_groups(
            cast(Engine, FakeEngine()),
            cast(Registry, FakeRegistry()),
            "llama.cpp",
            VERSION,
            [],
            signing=None,
        )


def test_an_unknown_mode_names_the_closest() -> None:
    with pytest.raises(ProjectError) as raised:
        publish_mode("merg")
    assert str(raised.value) == (
        "unknown publish mode 'merg': choose one of all, push, merge (did you mean merge?)"
    )
