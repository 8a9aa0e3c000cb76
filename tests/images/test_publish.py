"""publish: a real registry (Debian's docker-registry on loopback), real pushes and pulls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.engine import Engine
from llama_images.errors import ProjectError
from llama_images.inventory import version_status_table
from llama_images.localregistry import LocalRegistry, local_registry
from llama_images.metadata import OCI, project_label
from llama_images.project import Project
from llama_images.publish import GroupResult, ImageGroup, publish_groups, write_release_record
from llama_images.registry import LIST_TYPE, Registry
from llama_images.settings import Settings
from llama_images.smoke import ImageUnderTest
from version import BuildVersion


@pytest.fixture
def registry_server(tmp_path: Path) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path / "registry") as server:
        yield server


@pytest.fixture(scope="session")
def cpu_runtime(engine: Engine, runtime_image: ImageUnderTest) -> ImageUnderTest:
    if runtime_image.variant != "cpu":
        pytest.skip("publishing is proven on the cpu image")
    return runtime_image


@pytest.fixture
def arm64_image(engine: Engine, cpu_runtime: ImageUnderTest, tmp_path: Path) -> Iterator[str]:
    """A tiny linux/arm64 image with the cpu image's labels: enough to prove the merge."""
    rootfs = tmp_path / "arm64-rootfs"
    (rootfs / "app").mkdir(parents=True)
    (rootfs / "app" / "README").write_text("arm64 stand-in for the manifest list test\n")
    ref = f"llama-images-test/arm64:{cpu_runtime.version}"
    labels = [
        f"LABEL {key}={json.dumps(value)}"
        for key, value in cpu_runtime.labels.items()
        if key != project_label("platform")
    ]
    labels.append(f'LABEL {project_label("platform")}="linux/arm64"')
    engine.import_rootfs(rootfs, ref, labels, platform="linux/arm64")
    try:
        yield ref
    finally:
        engine.remove_image(ref)


def test_publish_merges_platforms_and_moves_latest(
    engine: Engine,
    project: Project,
    registry_server: LocalRegistry,
    cpu_runtime: ImageUnderTest,
    arm64_image: str,
    tmp_path: Path,
) -> None:
    repository = f"{registry_server.host}/llama.cpp"
    version = BuildVersion.parse(cpu_runtime.version)
    group = ImageGroup(
        "cpu", "runtime", {"linux/amd64": cpu_runtime.ref, "linux/arm64": arm64_image}
    )
    results = publish_groups(engine, Registry(registry_server.host), repository, version, [group])
    result = results[0]
    assert result.status == "published"
    registry = Registry(registry_server.host)
    found = registry.manifest("llama.cpp", f"cpu-{version}")
    assert found is not None
    descriptor, document = found
    assert descriptor.media_type == LIST_TYPE
    platforms = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in document["manifests"]
    }
    assert platforms == result.platforms
    assert set(platforms) == {"linux/amd64", "linux/arm64"}
    latest = registry.manifest("llama.cpp", "latest-cpu")
    assert latest is not None and latest[0].digest == result.list_digest

    # Pulled back by digest: labels and version.json intact.
    by_digest = f"{repository}@{platforms['linux/amd64']}"
    engine.untag(by_digest)
    engine.pull(by_digest)
    try:
        labels = engine.image_labels(by_digest)
        code, output = engine.run(
            by_digest, ["-c", "cat /app/version.json"], entrypoint=["/bin/sh"]
        )
    finally:
        engine.untag(by_digest)
    assert labels[f"{OCI}.version"] == str(version)
    assert code == 0 and json.loads(output)["version"] == str(version)

    status = version_status_table(
        Project(root=project.root, settings=Settings(registry=registry_server.host)), None
    )
    assert "registry cpu" in status and str(version) in status, status

    record = tmp_path / "release.json"
    write_release_record(record, version, "f" * 40, results)
    written = json.loads(record.read_text())
    assert written["tag"] == f"base-images/v{version}"
    assert written["variants"]["cpu"]["runtime"]["platforms"] == platforms


def amd64_publication(
    registry_server: LocalRegistry, cpu_runtime: ImageUnderTest
) -> tuple[str, BuildVersion, ImageGroup]:
    """Where to publish, the image's version, and the one-platform group to publish."""
    return (
        f"{registry_server.host}/llama.cpp",
        BuildVersion.parse(cpu_runtime.version),
        ImageGroup("cpu", "runtime", {"linux/amd64": cpu_runtime.ref}),
    )


def test_failed_push_leaves_latest_where_it_was(
    engine: Engine,
    registry_server: LocalRegistry,
    cpu_runtime: ImageUnderTest,
) -> None:
    repository, version, group = amd64_publication(registry_server, cpu_runtime)
    first = publish_groups(engine, Registry(registry_server.host), repository, version, [group])
    before = first[0].list_digest

    newer = BuildVersion(stamp="9912312359", short_hash=version.short_hash)
    registry_server.stop()
    results: list[GroupResult] = []
    with pytest.raises(ProjectError, match=r"cpu runtime failed at push \(linux/amd64\)"):
        publish_groups(
            engine, Registry(registry_server.host), repository, newer, [group], results=results
        )
    assert results[0].status == "failed"
    registry_server.start()
    latest = Registry(registry_server.host).manifest("llama.cpp", "latest-cpu")
    assert latest is not None and latest[0].digest == before


def test_failed_smoke_test_leaves_latest_where_it_was(
    engine: Engine,
    registry_server: LocalRegistry,
    cpu_runtime: ImageUnderTest,
) -> None:
    repository, version, group = amd64_publication(registry_server, cpu_runtime)
    # Publishing the image under another version: its version.json disagrees.
    other = BuildVersion(stamp="9912312359", short_hash=version.short_hash)
    with pytest.raises(ProjectError, match="failed at smoke test"):
        publish_groups(engine, Registry(registry_server.host), repository, other, [group])
    assert Registry(registry_server.host).manifest("llama.cpp", "latest-cpu") is None
