"""Signed images and their SBOMs: the cpu image published to a loopback registry (TLS, token
login) is signed by digest with a fresh cosign key pair and carries its SBOM as a signed CycloneDX
attestation; cosign verifies the published tags, a tag pointed at other bytes fails, and a
publish whose signature does not verify leaves `latest-*` where it was."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from llama_images.adapters.cosign import CYCLONEDX_PREDICATE, Cosign
from llama_images.adapters.engine import Engine
from llama_images.adapters.registry import Registry
from llama_images.commands.publish import GroupResult, ImageGroup, publish_groups
from llama_images.commands.supply_chain import SBOM_PREDICATE_TYPE, Signing
from llama_images.errors import ProjectError
from llama_images.model.metadata import project_label
from llama_images.model.project import Project
from llama_images.model.version import BuildVersion
from llama_images.testing.localregistry import LocalRegistry
from llama_images.testing.servers import ImageUnderTest
from llama_images.testing.signing import CosignKeys
from llama_images.testing.signing import cosign_keys as make_cosign_keys
from tests.images.shared.registries import NAME, latest_digest, push_as_buildkit_does


def publish_signed(
    engine: Engine,
    server: LocalRegistry,
    image: ImageUnderTest,
    signing: Signing,
    metrics: dict[str, float] | None = None,
) -> GroupResult:
    """Publishes the amd64 image with its build-number tag, signed."""
    version = BuildVersion.parse(image.version)
    group = ImageGroup("cpu", "runtime", {"linux/amd64": image.ref})
    build = int(image.labels[project_label("llama-cpp.build-number")])
    started = time.monotonic()
    (result,) = publish_groups(
        engine,
        Registry(server.host),
        f"{server.host}/{NAME}",
        version,
        [group],
        llama_build=build,
        signing=signing,
    )
    if metrics is not None:
        metrics["publish_s"] = time.monotonic() - started
        for step, seconds in result.signature["seconds"].items():
            metrics[f"{step}_s"] = seconds
    assert result.status == "published", result.error
    return result


def app_files(engine: Engine, ref: str, folder: Path) -> dict[str, str]:
    """Every regular file under /app (path -> sha256), copied out of the image and hashed here."""
    root = engine.export_path(ref, "/app", folder)
    return {
        f"/app/{path.relative_to(root)}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_published_tags_verify_and_carry_the_sbom(
    engine: Engine,
    project: Project,
    token_registry: LocalRegistry,
    cpu_runtime: ImageUnderTest,
    signing: Signing,
    cosign_keys: CosignKeys,
    metrics: dict[str, float],
    tmp_path: Path,
) -> None:
    result = publish_signed(engine, token_registry, cpu_runtime, signing, metrics)
    assert result.signature["mode"] == "key" and result.signature["verified"]
    cosign, verifier = cosign_keys.cosign, cosign_keys.verifier

    # Every tag publishing wrote or moved verifies, with the public key alone.
    for ref in (result.tag, result.latest, result.build_tag):
        payloads = cosign.verify(ref, verifier)
        signed = {p["critical"]["image"]["docker-manifest-digest"] for p in payloads}
        assert signed == {result.list_digest}, ref

    # The SBOM, as anyone reads it: the verified attestation of the moving tag.
    (statement,) = cosign.verify_attestation(result.latest, verifier, SBOM_PREDICATE_TYPE)
    assert statement["predicateType"] == CYCLONEDX_PREDICATE
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [
        result.list_digest.removeprefix("sha256:")
    ]
    sbom: dict[str, Any] = statement["predicate"]
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(sbom))
    assert error is None, error
    components = sbom["components"]

    packages = {c["name"]: c for c in components if c["type"] == "library"}
    assert "libgomp1" in packages, "the OpenMP runtime the cpu backend loads"
    assert packages["libgomp1"]["purl"].startswith("pkg:deb/debian/libgomp1@")
    assert len(packages) > 20, "every installed package, not a few"

    pin = project.pin()
    (llama,) = [c for c in components if c["name"] == "llama.cpp"]
    assert llama["version"] == pin.tag
    assert llama["pedigree"]["commits"][0]["uid"] == pin.commit
    properties = {p["name"]: p["value"] for p in llama["properties"]}
    assert properties["org.llama-images:llama-cpp.build-number"] == str(pin.build_number)
    archive = next(s.sha256 for s in pin.sources if s.sha256)
    assert properties["org.llama-images:llama-cpp.source-sha256"] == archive

    # Every file under /app, with the sha256 of its bytes as copied out of the image here.
    listed = {
        c["name"]: c["hashes"][0]["content"]
        for c in components
        if c["type"] == "file" and c.get("hashes")
    }
    assert listed == app_files(engine, cpu_runtime.ref, tmp_path / "app")

    # Another key verifies nothing.
    stranger = make_cosign_keys(tmp_path / "other")
    with pytest.raises(ProjectError, match=r"cosign verify .* failed"):
        cosign.verify(result.latest, stranger.verifier)


def test_a_tag_pointed_at_other_bytes_fails_verification(
    engine: Engine,
    token_registry: LocalRegistry,
    cpu_runtime: ImageUnderTest,
    signing: Signing,
    cosign_keys: CosignKeys,
) -> None:
    result = publish_signed(engine, token_registry, cpu_runtime, signing)
    cosign, verifier = cosign_keys.cosign, cosign_keys.verifier
    cosign.verify(result.tag, verifier)

    # Tampering: the versioned tag now names other bytes (an index of a stand-in image
    # carrying the same labels), as a registry account with push rights could do.
    registry = Registry(token_registry.host)
    tag = result.tag.rpartition(":")[2]
    push_as_buildkit_does(registry, tag, dict(cpu_runtime.labels), "amd64")
    tampered = registry.manifest(NAME, tag)
    assert tampered is not None and tampered[0].digest != result.list_digest
    with pytest.raises(ProjectError, match=r"cosign verify .* failed: .*no signatures found"):
        cosign.verify(result.tag, verifier)
    with pytest.raises(ProjectError, match=r"cosign verify-attestation .* failed"):
        cosign.verify_attestation(result.tag, verifier, SBOM_PREDICATE_TYPE)
    # What was signed still verifies, by digest and through the tag nobody touched.
    cosign.verify(result.latest, verifier)
    cosign.verify(f"{token_registry.host}/{NAME}@{result.list_digest}", verifier)


def broken_signing(kind: str, signing: Signing, keys: CosignKeys, folder: Path) -> Signing:
    """sign: cosign cannot open the key (wrong password); verify: the signature is made, but
    with a key other than the one verification trusts."""
    if kind == "sign":
        wrong = Cosign(keys.cosign.binary, "not-the-password")
        return Signing(wrong, signing.verifier, signing.pin, signing.key)
    other = make_cosign_keys(folder)
    return Signing(other.cosign, signing.verifier, signing.pin, str(other.private))


@pytest.mark.parametrize("kind", ["sign", "verify"])
def test_a_failed_signature_leaves_latest_where_it_was(
    kind: str,
    engine: Engine,
    token_registry: LocalRegistry,
    cpu_runtime: ImageUnderTest,
    signing: Signing,
    cosign_keys: CosignKeys,
    tmp_path: Path,
) -> None:
    before = publish_signed(engine, token_registry, cpu_runtime, signing)
    assert latest_digest(token_registry) == before.list_digest

    # A second index of the same version (amd64 as published, plus an arm64 image) passes
    # its smoke test, then its signature fails.
    version = BuildVersion.parse(cpu_runtime.version)
    registry = Registry(token_registry.host)
    # The amd64 image stays where the first publish pushed it: `cpu-<version>-amd64`.
    push_as_buildkit_does(registry, f"cpu-{version}-arm64", dict(cpu_runtime.labels), "arm64")
    both = ImageGroup("cpu", "runtime", {"linux/amd64": "", "linux/arm64": ""})
    results: list[GroupResult] = []
    with pytest.raises(ProjectError) as failed:
        publish_groups(
            engine,
            registry,
            f"{token_registry.host}/{NAME}",
            version,
            [both],
            results=results,
            mode="merge",
            signing=broken_signing(kind, signing, cosign_keys, tmp_path / "other"),
        )
    assert f"failed at {kind}: cosign {kind}" in failed.value.message
    assert results[0].list_digest and results[0].list_digest != before.list_digest
    assert latest_digest(token_registry) == before.list_digest
    cosign_keys.cosign.verify(before.latest, cosign_keys.verifier)
