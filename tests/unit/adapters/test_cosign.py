"""The cosign adapter: its one-line errors, and real signatures and attestations of a stand-in
image in Debian's docker-registry on loopback (TLS with the test CA, token login). No engine."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.cosign import (
    CYCLONEDX_PREDICATE,
    Cosign,
    KeylessIdentity,
    Verifier,
    decoded_statements,
    error_line,
    registry_host,
)
from llama_images.adapters.registry import OCI_INDEX_TYPE, Registry
from llama_images.errors import ProjectError
from llama_images.testing.localregistry import REGISTRY_BINARY, LocalRegistry, local_registry
from llama_images.testing.signing import CosignKeys, cosign_keys

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
needs_cosign_and_registry = pytest.mark.skipif(
    shutil.which("cosign") is None or shutil.which(REGISTRY_BINARY) is None,
    reason="cosign or docker-registry is not installed (.ci/install-host installs both)",
)


def test_error_line_is_cosigns_own_error_on_one_line() -> None:
    stderr = (
        "Error: no matching signatures: key mismatch\n"
        "main.go:74: error during command execution: no matching signatures\n"
    )
    assert error_line(stderr) == "no matching signatures: key mismatch"
    assert error_line("WARNING: x\nsomething else broke\n") == "something else broke"
    assert error_line("") == "no output"
    assert len(error_line("Error: " + "x" * 1000)) == 400


def test_statements_are_read_out_of_their_envelopes() -> None:
    statement = {"predicateType": CYCLONEDX_PREDICATE, "predicate": {"bomFormat": "CycloneDX"}}
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    printed = "\n".join(
        ["Verification for x --", json.dumps({"payload": payload, "signatures": []})]
    )
    assert decoded_statements(printed) == [statement]


def test_a_verifier_trusts_a_key_or_an_identity_never_both() -> None:
    with pytest.raises(ValueError):
        Verifier()
    with pytest.raises(ValueError):
        Verifier(public_key="PEM", identity=KeylessIdentity("https://github.com/o/r"))
    assert registry_host("localhost:5000/owner/llama.cpp@sha256:00") == "localhost:5000"


def test_a_missing_cosign_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ProjectError, match=r"cosign is missing: .*\.ci/install-host"):
        Cosign.find()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRegistry]:
    with local_registry(tmp_path / "registry", auth="token") as running:
        config = tmp_path / "docker-config"
        config.mkdir()
        pair = base64.b64encode(f"{running.username}:{running.password}".encode()).decode()
        (config / "config.json").write_text(json.dumps({"auths": {running.host: {"auth": pair}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        yield running


def push_stand_in(registry: Registry, tag: str, text: str) -> str:
    """An index of one tiny image whose only layer holds `text`; returns the index digest."""
    layer = text.encode()
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": registry.put_blob("llama.cpp", config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": registry.put_blob("llama.cpp", layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    digest = registry.put_manifest("llama.cpp", f"{tag}-image", manifest, OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX_TYPE,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    return registry.put_manifest("llama.cpp", tag, index, OCI_INDEX_TYPE)


@pytest.fixture
def keys(tmp_path: Path) -> CosignKeys:
    return cosign_keys(tmp_path / "keys")


@needs_cosign_and_registry
def test_sign_attest_verify_and_a_moved_tag_fails(
    server: LocalRegistry, keys: CosignKeys, tmp_path: Path
) -> None:
    registry = Registry(server.host)
    digest = push_stand_in(registry, "v1", "signed bytes")
    pinned, tag = f"{server.host}/llama.cpp@{digest}", f"{server.host}/llama.cpp:v1"
    cosign = keys.cosign
    cosign.sign(pinned, str(keys.private))
    predicate = tmp_path / "sbom.json"
    predicate.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}))
    cosign.attest(pinned, predicate, "cyclonedx", str(keys.private))

    (payload,) = cosign.verify(tag, keys.verifier)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    (statement,) = cosign.verify_attestation(tag, keys.verifier, "cyclonedx")
    assert statement["predicateType"] == CYCLONEDX_PREDICATE
    assert statement["predicate"]["bomFormat"] == "CycloneDX"
    assert statement["subject"][0]["digest"]["sha256"] == digest.removeprefix("sha256:")

    push_stand_in(registry, "v1", "other bytes")
    with pytest.raises(ProjectError) as moved:
        cosign.verify(tag, keys.verifier)
    assert moved.value.message == f"cosign verify {tag} failed: no signatures found"
    cosign.verify(pinned, keys.verifier)


@needs_cosign_and_registry
def test_a_wrong_password_is_one_line_naming_the_key(
    server: LocalRegistry, keys: CosignKeys
) -> None:
    wrong = Cosign(keys.cosign.binary, "not-the-password")
    with pytest.raises(ProjectError) as refused:
        wrong.public_key(str(keys.private))
    assert refused.value.message.startswith(f"reading the cosign private key {keys.private}")
    assert refused.value.message.endswith("set COSIGN_PASSWORD to its password")
    assert "decrypt" in refused.value.message
    assert keys.cosign.public_key(str(keys.private)) == keys.public.read_text()
