"""Moving tags after a successful build never fails it, even when an old image must stay."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import docker.errors
import pytest
import requests

from llama_images.adapters.engine import Engine, ImageInUse
from llama_images.building.builder import BuiltImage, KeptImage, replaced_images, tag_all
from llama_images.commands.inventory import clean_local_images
from llama_images.errors import ProjectError

CHILD_CONFLICT = (
    "conflict: unable to delete 0ld1 (cannot be forced) - image has dependent child images"
)


@dataclass
class FakeEngine:
    """Stands in for the engine in these unit tests: images by id, tags, and ids it must keep."""

    tags: dict[str, str] = field(default_factory=dict)  # tag -> image id
    images: set[str] = field(default_factory=set)
    with_children: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)
    removed: list[str] = field(default_factory=list)

    def image_exists(self, ref: str) -> bool:
        return ref in self.tags or ref in self.images

    def image_id(self, ref: str) -> str:
        return self.tags.get(ref, ref)

    def image_tags(self, ref: str) -> list[str]:
        return [tag for tag, image_id in self.tags.items() if image_id == ref]

    def tag(self, image_id: str, ref: str) -> None:
        self.images.add(image_id)
        self.tags[ref] = image_id

    def remove_image(self, image_id: str) -> None:
        if image_id in self.with_children:
            raise ImageInUse(CHILD_CONFLICT)
        if image_id in self.broken:
            raise ProjectError("engine could not remove it: disk on fire")
        self.images.discard(image_id)
        self.removed.append(image_id)


def built(image_id: str, *tags: str) -> BuiltImage:
    return BuiltImage("cpu", "linux/amd64", "runtime", image_id, tags, 1.0, 1, "cached")


def engine_with_old_images(with_children: set[str]) -> FakeEngine:
    return FakeEngine(
        tags={"llama.cpp:latest-cpu": "sha256:0ld1", "llama.cpp:latest-cpu-server": "sha256:0ld2"},
        images={"sha256:0ld1", "sha256:0ld2"},
        with_children=with_children,
    )


NEW = [
    built("sha256:new1", "llama.cpp:cpu-v2", "llama.cpp:latest-cpu"),
    built("sha256:new2", "llama.cpp:cpu-server-v2", "llama.cpp:latest-cpu-server"),
]


def test_earlier_images_left_without_tags_are_removed() -> None:
    engine = engine_with_old_images(with_children=set())
    assert tag_all(engine, NEW) == []
    assert engine.removed == ["sha256:0ld1", "sha256:0ld2"]
    assert engine.tags["llama.cpp:latest-cpu"] == "sha256:new1"


def test_an_image_with_children_is_kept_and_the_tags_still_move() -> None:
    engine = engine_with_old_images(with_children={"sha256:0ld1"})
    kept = tag_all(engine, NEW)
    assert kept == [KeptImage("sha256:0ld1", ("llama.cpp:latest-cpu",), CHILD_CONFLICT)]
    assert engine.removed == ["sha256:0ld2"]
    assert engine.tags["llama.cpp:latest-cpu"] == "sha256:new1"
    assert kept[0].note() == (
        "kept the previous image 0ld1 (was llama.cpp:latest-cpu): the engine says "
        f"{CHILD_CONFLICT!r}; docker image rm 0ld1 removes it once unused"
    )


def test_any_other_removal_failure_is_a_note_too() -> None:
    engine = engine_with_old_images(with_children=set())
    engine.broken.add("sha256:0ld2")
    kept = tag_all(engine, NEW)
    assert [(k.image_id, k.reason) for k in kept] == [
        ("sha256:0ld2", "engine could not remove it: disk on fire")
    ]
    assert engine.removed == ["sha256:0ld1"]


def test_an_image_still_tagged_elsewhere_stays() -> None:
    engine = engine_with_old_images(with_children=set())
    engine.tags["mine:app-base"] = "sha256:0ld1"
    tag_all(engine, NEW)
    assert engine.removed == ["sha256:0ld2"]


def test_a_rebuild_to_the_same_image_removes_nothing() -> None:
    engine = engine_with_old_images(with_children=set())
    engine.tags["llama.cpp:latest-cpu"] = "sha256:new1"
    assert replaced_images(dict(engine.tags), NEW) == {
        "sha256:0ld2": ["llama.cpp:latest-cpu-server"]
    }


class _Images:
    def __init__(self, status: int, explanation: str) -> None:
        self.status, self.explanation = status, explanation

    def remove(self, image: str, force: bool, noprune: bool) -> None:
        response = requests.Response()
        response.status_code = self.status
        raise docker.errors.APIError("refused", response=response, explanation=self.explanation)


class _Client:
    """Stands in for the Docker SDK client: its image removal always refuses."""

    def __init__(self, status: int, explanation: str) -> None:
        self.images = _Images(status, explanation)


def test_the_engine_turns_a_conflict_into_image_in_use() -> None:
    engine = Engine(_Client(409, CHILD_CONFLICT), "/usr/bin/docker")
    with pytest.raises(ImageInUse, match="image has dependent child images"):
        engine.remove_image("sha256:0ld1")


def test_other_engine_refusals_are_one_project_error() -> None:
    engine = Engine(_Client(500, "disk on fire"), "/usr/bin/docker")
    with pytest.raises(
        ProjectError, match="engine could not remove sha256:0ld1: disk on fire"
    ) as e:
        engine.remove_image("sha256:0ld1")
    assert not isinstance(e.value, ImageInUse)  # a real failure is not kept quiet


class FakeInventoryEngine(FakeEngine):
    """Stands in for the engine's image listing too: every image here is a project image."""

    def images_with_label(self, key: str, value: str | None = None) -> list[tuple[str, list[str]]]:
        return [(image_id, self.image_tags(image_id)) for image_id in sorted(self.images)]

    def image_labels(self, ref: str) -> dict[str, str]:
        return {}


def test_cleaning_keeps_what_the_engine_must_keep_and_removes_the_rest() -> None:
    engine = FakeInventoryEngine(
        tags={"llama.cpp:latest-cpu": "sha256:0ld2"},
        images={"sha256:0ld1", "sha256:0ld2"},
        with_children={"sha256:0ld1"},
    )
    removed, kept = clean_local_images(cast(Engine, engine), keep_version=None, dry_run=False)
    assert removed == ["llama.cpp:latest-cpu"]
    assert kept == [f"sha256:0ld1: {CHILD_CONFLICT}"]
