"""Image tags and repositories: one format, written and parsed back in one place."""

from __future__ import annotations

import pytest

from llama_images.commands.inventory import newest_versioned_tags
from llama_images.errors import ProjectError
from llama_images.model.reference import Repository
from llama_images.model.tags import ImageTag
from llama_images.model.version import BuildVersion

VERSION = BuildVersion.parse("2611220312-0a1b2c3")
OLDER = BuildVersion.parse("2611210000-fffffff")


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("cpu-2611220312-0a1b2c3", ImageTag("cpu", "runtime", VERSION)),
        ("cpu-server-2611220312-0a1b2c3", ImageTag("cpu", "server", VERSION)),
        ("cuda13-media-2611220312-0a1b2c3", ImageTag("cuda13", "media", VERSION)),
        ("latest-cpu", ImageTag("cpu")),
        ("latest-vulkan-server", ImageTag("vulkan", "server")),
        ("cpu-2611220312-0a1b2c3-amd64", ImageTag("cpu", "runtime", VERSION, "amd64")),
        ("vulkan-server-2611220312-0a1b2c3-arm64", ImageTag("vulkan", "server", VERSION, "arm64")),
        ("latest-cpu-server-arm64", ImageTag("cpu", "server", None, "arm64")),
        ("cpu-b10454", ImageTag("cpu", build=10454)),
        ("vulkan-server-b10454", ImageTag("vulkan", "server", build=10454)),
        ("cpu-media-b7", ImageTag("cpu", "media", build=7)),
        # A variant's name may end in "runtime": that target is never named in a tag.
        ("cpu-runtime-2611220312-0a1b2c3", ImageTag("cpu-runtime", "runtime", VERSION)),
    ],
)
def test_tags_format_and_parse_back(text: str, tag: ImageTag) -> None:
    assert str(tag) == text
    assert ImageTag.parse(text) == tag


def test_latest_and_platform_tags_derive_from_the_versioned_tag() -> None:
    versioned = ImageTag("cpu", "server", VERSION)
    assert str(versioned.latest()) == "latest-cpu-server"
    assert str(versioned.on("linux/arm64")) == "cpu-server-2611220312-0a1b2c3-arm64"
    assert str(versioned.of_build(10454)) == "cpu-server-b10454"
    assert versioned.of_build(10454).latest() == versioned.latest()
    assert versioned.on("linux/amd64").version == VERSION


@pytest.mark.parametrize(
    "text",
    [
        "latest",
        "latest-",
        "latest-server",
        "cpu",
        "cpu-2611220312",
        "cpu-9913990000-0a1b2c3",
        "-2611220312-0a1b2c3",
    ],
)
def test_other_tags_are_refused_with_the_format(text: str) -> None:
    with pytest.raises(
        ProjectError, match=r"is not an image tag of this project: expected <variant>"
    ):
        ImageTag.parse(text)


def test_newest_version_per_flavour_skips_latest_and_platform_tags() -> None:
    tags = [
        "latest-cpu",
        f"cpu-{OLDER}",
        f"cpu-{VERSION}",
        f"cpu-server-{OLDER}",
        f"cpu-server-{VERSION}-amd64",
        "not-ours",
    ]
    newest = newest_versioned_tags(tags)
    assert newest == {
        "cpu": ImageTag("cpu", "runtime", VERSION),
        "cpu-server": ImageTag("cpu", "server", OLDER),
    }


@pytest.mark.parametrize(
    ("text", "host", "name"),
    [
        ("llama.cpp", "", "llama.cpp"),
        ("owner/llama.cpp", "", "owner/llama.cpp"),
        ("localhost:5000/llama.cpp", "localhost:5000", "llama.cpp"),
        ("ghcr.io/owner/llama.cpp", "ghcr.io", "owner/llama.cpp"),
        ("localhost/llama.cpp", "localhost", "llama.cpp"),
    ],
)
def test_repository_parses_host_and_name(text: str, host: str, name: str) -> None:
    repository = Repository.parse(text)
    assert (repository.host, repository.name) == (host, name)
    assert str(repository) == text
    assert repository.at(ImageTag("cpu")) == f"{text}:latest-cpu"


def test_a_registry_repository_must_name_its_host() -> None:
    assert Repository.in_registry("localhost:5000/llama.cpp").host == "localhost:5000"
    with pytest.raises(
        ProjectError, match=r"^owner/llama\.cpp names no registry host: set LLAMA_IMAGES_REGISTRY$"
    ):
        Repository.in_registry("owner/llama.cpp")


@pytest.mark.parametrize(
    ("reference", "repository", "tag"),
    [
        ("localhost:5000/bench/ours-cpu:v1", Repository("localhost:5000", "bench/ours-cpu"), "v1"),
        ("docker.io/ubuntu:24.04", Repository("docker.io", "ubuntu"), "24.04"),
        ("localhost:5000/llama.cpp", Repository("localhost:5000", "llama.cpp"), "latest"),
        ("llama-images/debian:trixie", Repository("", "llama-images/debian"), "trixie"),
    ],
)
def test_a_reference_splits_into_repository_and_tag(
    reference: str, repository: Repository, tag: str
) -> None:
    assert Repository.split(reference) == (repository, tag)
