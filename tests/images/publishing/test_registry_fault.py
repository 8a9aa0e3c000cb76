"""A registry killed (SIGKILL) while `invoke publish-images` pushes to it: the publish fails
with one line naming the registry, no tag moves, and once the registry is back on the same
storage the next publish completes and moves `latest-*`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.registry import Credentials, Registry
from llama_images.model.metadata import project_label
from llama_images.model.project import Project
from llama_images.testing.localregistry import LocalRegistry
from llama_images.testing.servers import ImageUnderTest
from llama_images.testing.signing import CosignKeys
from tests.images.shared import REPO_ROOT
from tests.images.shared.registries import NAME, push_as_buildkit_does, serve

UPLOADS = Path("docker/registry/v2/repositories") / NAME / "_uploads"
PUSH_TIMEOUT = 600


@pytest.fixture
def htpasswd_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRegistry]:
    yield from serve(tmp_path, "htpasswd", monkeypatch)


def publish_argv(host: str) -> list[str]:
    invoke = shutil.which("invoke", path=str(Path(sys.executable).parent))
    assert invoke is not None
    task = ["publish-images", "--variants", "cpu", "--targets", "runtime"]
    return [invoke, *task, "--registry", host]


def publish_environ(keys: CosignKeys) -> dict[str, str]:
    """The user's environment (DOCKER_CONFIG logged in), signing with the run's key pair."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_IMAGES_")}
    return {
        **kept,
        "LLAMA_IMAGES_SIGNING": "key",
        "LLAMA_IMAGES_COSIGN_KEY": str(keys.private),
        "COSIGN_PASSWORD": keys.password,
    }


def tag_digests(registry: Registry) -> dict[str, str]:
    digests: dict[str, str] = {}
    for tag in registry.tags(NAME):
        found = registry.manifest(NAME, tag)
        assert found is not None
        digests[tag] = found[0].digest
    return digests


def uploads(server: LocalRegistry) -> set[str]:
    folder = server.storage / UPLOADS
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def wait_for_a_new_upload(
    server: LocalRegistry, known: set[str], running: subprocess.Popen[str]
) -> None:
    """Returns once the registry holds a blob upload it did not hold before this push."""
    deadline = time.monotonic() + PUSH_TIMEOUT
    while not uploads(server) - known:
        assert running.poll() is None, "the publish ended before any blob upload began"
        assert time.monotonic() < deadline, "no blob upload began"
        time.sleep(0.05)


@pytest.fixture
def head_image(project: Project, cpu_runtime: ImageUnderTest) -> ImageUnderTest:
    """publish-images publishes the images of HEAD's version."""
    if cpu_runtime.version != str(project.version()):
        pytest.skip(f"publish-images publishes HEAD's version, {cpu_runtime.ref} is another")
    return cpu_runtime


def test_a_registry_killed_mid_push_moves_nothing_and_the_next_publish_completes(
    htpasswd_registry: LocalRegistry, head_image: ImageUnderTest, cosign_keys: CosignKeys
) -> None:
    version = head_image.version
    build = int(head_image.labels[project_label("llama-cpp.build-number")])
    moving = ["latest-cpu", f"cpu-b{build}"]
    login = Credentials(htpasswd_registry.username, htpasswd_registry.password)
    registry = Registry(htpasswd_registry.host, login)
    # The release users have now: a stand-in index that latest-cpu and the build tag name.
    push_as_buildkit_does(registry, "cpu-previous", dict(head_image.labels), "amd64")
    for tag in moving:
        registry.copy_tag(NAME, "cpu-previous", tag)
    before = tag_digests(registry)
    known = uploads(htpasswd_registry)
    environ = publish_environ(cosign_keys)

    with subprocess.Popen(
        publish_argv(htpasswd_registry.host),
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as running:
        wait_for_a_new_upload(htpasswd_registry, known, running)
        htpasswd_registry.kill()
        _, stderr = running.communicate(timeout=PUSH_TIMEOUT)
    assert running.returncode != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: publishing cpu runtime failed at push (linux/amd64)")
    assert htpasswd_registry.host in lines[0] and "latest-cpu was not moved" in lines[0]

    htpasswd_registry.start()
    assert tag_digests(registry) == before, "a tag moved or appeared"

    done = subprocess.run(
        publish_argv(htpasswd_registry.host),
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=PUSH_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    after = tag_digests(registry)
    published = after[f"cpu-{version}"]
    assert published != before["latest-cpu"]
    assert {tag: after[tag] for tag in moving} == dict.fromkeys(moving, published)
