"""publish: Debian's docker-registry on loopback requiring a login over TLS (htpasswd, or tokens
from an issuer it verifies), real pushes and pulls with the credentials `docker login` stored."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llama_images.adapters.engine import Engine
from llama_images.adapters.registry import (
    OCI_INDEX_TYPE,
    REFERENCE_DIGEST,
    Credentials,
    Registry,
    docker_certs_dir,
)
from llama_images.commands.inventory import version_status_table
from llama_images.commands.publish import (
    GroupResult,
    ImageGroup,
    publish_groups,
    write_release_record,
)
from llama_images.commands.supply_chain import Signing
from llama_images.errors import ProjectError
from llama_images.model.metadata import OCI, project_label
from llama_images.model.project import Project
from llama_images.model.settings import Settings
from llama_images.model.version import BuildVersion
from llama_images.testing.localregistry import (
    PULL_ONLY_USER,
    LocalRegistry,
    RegistryAuth,
    issue_certificate,
    local_registry,
)
from llama_images.testing.servers import ImageUnderTest
from tests.images.shared import REPO_ROOT
from tests.images.shared.registries import NAME, latest_digest, push_as_buildkit_does


def test_publish_merges_platforms_and_moves_latest(
    engine: Engine,
    project: Project,
    registry_server: LocalRegistry,
    cpu_runtime: ImageUnderTest,
    signing: Signing,
    tmp_path: Path,
) -> None:
    repository = f"{registry_server.host}/{NAME}"
    version = BuildVersion.parse(cpu_runtime.version)
    registry = Registry(registry_server.host)
    assert registry.credentials is not None, "the Docker configuration holds the login"

    # The amd64 job pushes the local image; the arm64 job pushed an index with provenance.
    amd64 = ImageGroup("cpu", "runtime", {"linux/amd64": cpu_runtime.ref})
    pushed = publish_groups(
        engine, registry, repository, version, [amd64], mode="push", signing=None
    )
    assert pushed[0].status == "pushed"
    arm64_labels = {**cpu_runtime.labels, project_label("platform"): "linux/arm64"}
    arm64_digest, attestation_digest = push_as_buildkit_does(
        registry, f"cpu-{version}-arm64", dict(arm64_labels), "arm64"
    )

    both = ImageGroup("cpu", "runtime", {"linux/amd64": "", "linux/arm64": ""})
    build = int(cpu_runtime.labels[project_label("llama-cpp.build-number")])
    results = publish_groups(
        engine,
        registry,
        repository,
        version,
        [both],
        mode="merge",
        llama_build=build,
        signing=signing,
    )
    result = results[0]
    assert result.status == "published", result.error
    assert result.signature["verified"] and result.signature["signed"] == result.list_digest
    assert result.platforms == {
        "linux/amd64": pushed[0].platforms["linux/amd64"],
        "linux/arm64": arm64_digest,
    }

    found = registry.manifest(NAME, f"cpu-{version}")
    assert found is not None
    descriptor, index = found
    assert descriptor.media_type == OCI_INDEX_TYPE
    assert descriptor.digest == result.list_digest
    entries = {(e["platform"]["os"], e["platform"]["architecture"]): e for e in index["manifests"]}
    assert set(entries) == {("linux", "amd64"), ("linux", "arm64"), ("unknown", "unknown")}
    assert entries[("linux", "amd64")]["digest"] == result.platforms["linux/amd64"]
    provenance = entries[("unknown", "unknown")]
    assert provenance["digest"] == attestation_digest
    assert provenance["annotations"][REFERENCE_DIGEST] == arm64_digest
    notes = index["annotations"]
    assert notes[f"{OCI}.version"] == str(version)
    assert notes[f"{OCI}.revision"] == cpu_runtime.labels[f"{OCI}.revision"]
    assert notes[f"{OCI}.description"]
    latest = registry.manifest(NAME, "latest-cpu")
    assert latest is not None and latest[0].digest == result.list_digest
    pinnable = registry.manifest(NAME, f"cpu-b{build}")
    assert pinnable is not None and pinnable[0].digest == result.list_digest
    assert result.build_tag == f"{repository}:cpu-b{build}"

    # Pulled back by digest, with the stored login: labels and version.json intact.
    by_digest = f"{repository}@{result.list_digest}"
    engine.untag(by_digest)
    engine.pull(by_digest, auth=registry.engine_auth())
    try:
        labels = engine.image_labels(by_digest)
        code, output = engine.run(
            by_digest, ["-c", "cat /app/version.json"], entrypoint=["/bin/sh"]
        )
    finally:
        engine.untag(by_digest)
    assert labels[f"{OCI}.version"] == str(version)
    assert labels[project_label("platform")] == "linux/amd64"
    assert code == 0 and json.loads(output)["version"] == str(version)

    status = version_status_table(
        Project(root=project.root, settings=Settings(registry=registry_server.host)), None
    )
    assert "registry cpu" in status and str(version) in status, status

    record = tmp_path / "release.json"
    write_release_record(record, version, "f" * 40, results)
    written = json.loads(record.read_text())
    assert written["tag"] == f"base-images/v{version}"
    assert written["variants"]["cpu"]["runtime"]["platforms"] == result.platforms
    assert written["variants"]["cpu"]["runtime"]["signature"]["mode"] == "key"


def published_once(
    engine: Engine, server: LocalRegistry, image: ImageUnderTest, signing: Signing
) -> tuple[str, BuildVersion, ImageGroup, str]:
    """Publishes the amd64 image once: (repository, version, group, digest of latest-cpu)."""
    repository = f"{server.host}/{NAME}"
    version = BuildVersion.parse(image.version)
    group = ImageGroup("cpu", "runtime", {"linux/amd64": image.ref})
    first = publish_groups(
        engine, Registry(server.host), repository, version, [group], signing=signing
    )
    return repository, version, group, first[0].list_digest


def test_failed_push_leaves_latest_where_it_was(
    engine: Engine, token_registry: LocalRegistry, cpu_runtime: ImageUnderTest, signing: Signing
) -> None:
    repository, version, group, before = published_once(
        engine, token_registry, cpu_runtime, signing
    )
    newer = BuildVersion(stamp="9912312359", short_hash=version.short_hash)
    token_registry.stop()
    results: list[GroupResult] = []
    with pytest.raises(ProjectError, match=r"cpu runtime failed at push \(linux/amd64\)"):
        publish_groups(
            engine,
            Registry(token_registry.host),
            repository,
            newer,
            [group],
            results=results,
            signing=signing,
        )
    assert results[0].status == "failed"
    token_registry.start()
    assert latest_digest(token_registry) == before


def test_refused_push_is_one_line_and_moves_nothing(
    engine: Engine, token_registry: LocalRegistry, cpu_runtime: ImageUnderTest, signing: Signing
) -> None:
    repository, version, group, before = published_once(
        engine, token_registry, cpu_runtime, signing
    )
    newer = BuildVersion(stamp="9912312359", short_hash=version.short_hash)
    reader = Registry(token_registry.host, Credentials(PULL_ONLY_USER, token_registry.password))
    reader.ping()  # the login itself is valid: only pushing is refused
    with pytest.raises(ProjectError, match="failed at push") as refused:
        publish_groups(engine, reader, repository, newer, [group], signing=signing)
    assert "\n" not in refused.value.message
    assert latest_digest(token_registry) == before
    assert f"cpu-{newer}" not in reader.tags(NAME)


def test_failed_smoke_test_leaves_latest_where_it_was(
    engine: Engine, token_registry: LocalRegistry, cpu_runtime: ImageUnderTest, signing: Signing
) -> None:
    repository = f"{token_registry.host}/{NAME}"
    group = ImageGroup("cpu", "runtime", {"linux/amd64": cpu_runtime.ref})
    # Publishing the image under another version: its version.json disagrees.
    other = BuildVersion(stamp="9912312359", short_hash=cpu_runtime.version.split("-")[1])
    with pytest.raises(ProjectError, match="failed at smoke test"):
        publish_groups(
            engine, Registry(token_registry.host), repository, other, [group], signing=signing
        )
    assert latest_digest(token_registry) is None


def publish_cli(registry: str, docker_config: Path) -> subprocess.CompletedProcess[str]:
    """`invoke publish-images` as a user runs it, with the given Docker configuration."""
    invoke = shutil.which("invoke", path=str(Path(sys.executable).parent))
    assert invoke is not None
    return subprocess.run(
        [invoke, "publish-images", "--variants", "cpu", "--registry", registry],
        cwd=REPO_ROOT,
        env={**_environ(), "DOCKER_CONFIG": str(docker_config)},
        capture_output=True,
        text=True,
        check=False,
    )


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_IMAGES_")}


def _only_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("auth", ["htpasswd", "token"])
def test_wrong_password_is_one_line_before_any_push(
    auth: RegistryAuth, tmp_path: Path, cpu_runtime: ImageUnderTest
) -> None:
    with local_registry(tmp_path / "registry", auth=auth) as server:
        stale = tmp_path / "stale-login"
        stale.mkdir()
        pair = base64.b64encode(f"{server.username}:not-the-password".encode()).decode()
        (stale / "config.json").write_text(json.dumps({"auths": {server.host: {"auth": pair}}}))
        done = publish_cli(server.host, stale)
        assert done.returncode != 0
        line = _only_line(done.stderr)
        assert f"refused the login of {server.username}" in line
        assert f"docker login {server.host}" in line

        empty = tmp_path / "no-login"
        empty.mkdir()
        done = publish_cli(server.host, empty)
        assert done.returncode != 0
        assert f"requires a login: run `docker login {server.host}`" in _only_line(done.stderr)
        assert Registry(server.host, Credentials(server.username, server.password)).tags(NAME) == []


def test_unknown_ca_is_one_line_before_any_push(
    tmp_path: Path, cpu_runtime: ImageUnderTest
) -> None:
    with local_registry(tmp_path / "registry", auth="htpasswd") as server:
        docker_config = tmp_path / "docker-config"
        server.login(docker_config)
        # The engine and this client now trust another CA for the host.
        other_ca = issue_certificate("another CA")
        other_ca.write(docker_certs_dir(server.host), "ca")
        done = publish_cli(server.host, docker_config)
        assert done.returncode != 0
        line = _only_line(done.stderr)
        assert "TLS certificate is not trusted" in line
        assert f"{docker_certs_dir(server.host)}/ca.crt" in line
        shutil.copyfile(server.ca_file, docker_certs_dir(server.host) / "ca.crt")
        assert Registry(server.host, Credentials(server.username, server.password)).tags(NAME) == []
