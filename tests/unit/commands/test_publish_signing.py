"""Signing in publishing, against fakes: no engine, no cosign. `latest-*` moves only after the
signature and the SBOM attestation verify; unsigned publishing is only ever chosen."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from llama_images.adapters.cosign import Cosign, KeylessIdentity
from llama_images.adapters.engine import Engine
from llama_images.adapters.registry import Registry
from llama_images.adapters.source import Pin
from llama_images.commands.publish import (
    GroupResult,
    ImageGroup,
    PublishMode,
    publish_groups,
    write_release_record,
)
from llama_images.commands.supply_chain import NO_SIGNING_HELP, Signing, signing_for
from llama_images.errors import ProjectError
from llama_images.model.settings import Settings, load_settings
from tests.unit.commands.test_publish_tags import REPOSITORY, VERSION, FakeEngine, FakeRegistry

PIN = Pin(tag="b10454", commit="4df29be4f4c3673f428170fda944a5b19f743bb8", build_number=10454)
PINNED = f"{REPOSITORY}@sha256:index"
GITHUB = {
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_WORKFLOW_REF": "Owner/repo/.github/workflows/base-images.yml@refs/tags/base-images/v1",
}


@dataclass
class FakeSigning:
    """Records into the registry's call list, so the order of everything shows."""

    calls: list[tuple[str, ...]]
    fail_at: str = ""
    engine_calls: list[tuple[str, str]] = field(default_factory=list)

    def sbom(
        self, engine: Engine, pinned: str, *, tag: str, platform_digests: dict[str, str]
    ) -> str:
        # Read while the image is pulled: the last engine call is the pull.
        self.engine_calls.append(cast(FakeEngine, engine).calls[-1])
        self.calls.append(("sbom", pinned, tag, ",".join(sorted(platform_digests))))
        return '{"serialNumber": "urn:uuid:x"}'

    def sign(self, pinned: str, sbom: str) -> None:
        self.calls.append(("sign", pinned, sbom))
        if self.fail_at == "sign":
            raise ProjectError(f"cosign sign {pinned} failed: no key")

    def verify(self, pinned: str, sbom: str) -> dict[str, Any]:
        self.calls.append(("verify", pinned))
        if self.fail_at == "verify":
            raise ProjectError(f"cosign verify {pinned} failed: no matching signatures")
        return {"mode": "key", "signed": pinned.partition("@")[2], "verified": True}


def publish(
    mode: PublishMode, fail_at: str = "", results: list[GroupResult] | None = None
) -> tuple[FakeEngine, FakeRegistry, FakeSigning]:
    engine, registry = FakeEngine(), FakeRegistry()
    signing = FakeSigning(registry.calls, fail_at)
    group = ImageGroup("cpu", "server", {"linux/amd64": "local-a", "linux/arm64": "local-b"})
    publish_groups(
        cast(Engine, engine),
        cast(Registry, registry),
        REPOSITORY,
        VERSION,
        [group],
        results=results,
        mode=mode,
        llama_build=10454,
        signing=cast(Signing, signing),
    )
    return engine, registry, signing


def test_latest_moves_only_after_the_signature_verifies() -> None:
    results: list[GroupResult] = []
    _, registry, signing = publish("merge", results=results)
    steps = [call[0] for call in registry.calls if call[0] != "manifest"]
    assert steps == ["put_manifest", "sbom", "sign", "verify", "copy_tag", "copy_tag"]
    sbom = next(call for call in registry.calls if call[0] == "sbom")
    assert sbom == ("sbom", PINNED, f"{REPOSITORY}:cpu-server-{VERSION}", "linux/amd64,linux/arm64")
    assert signing.engine_calls == [("pull", PINNED)], "the SBOM is read from the pulled index"
    signature = results[0].signature
    assert {k: signature[k] for k in ("mode", "signed", "verified")} == {
        "mode": "key",
        "signed": "sha256:index",
        "verified": True,
    }
    assert set(signature["seconds"]) == {"sbom", "sign", "verify"}


@pytest.mark.parametrize("step", ["sign", "verify"])
def test_a_failed_signature_moves_no_tag(step: str) -> None:
    results: list[GroupResult] = []
    with pytest.raises(ProjectError) as failed:
        publish("merge", fail_at=step, results=results)
    assert f"failed at {step}: cosign {step}" in failed.value.message
    assert failed.value.message.endswith("latest-cpu-server was not moved")
    assert results[0].status == "failed"
    assert results[0].signature == {}


def test_a_push_job_signs_nothing() -> None:
    _, registry, _ = publish("push")
    assert not [call for call in registry.calls if call[0] in ("sbom", "sign", "verify")]


def test_unsigned_publishing_says_so_in_the_record(tmp_path: Path) -> None:
    engine, registry = FakeEngine(), FakeRegistry()
    group = ImageGroup("cpu", "runtime", {"linux/amd64": "local-a"})
    results = publish_groups(
        cast(Engine, engine), cast(Registry, registry), REPOSITORY, VERSION, [group], signing=None
    )
    record = tmp_path / "release.json"
    write_release_record(record, VERSION, "f" * 40, results)
    written = json.loads(record.read_text())["variants"]["cpu"]["runtime"]
    assert written["status"] == "published"
    assert written["signature"] == {"mode": "none"}


@pytest.fixture
def fake_cosign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Cosign, "find", classmethod(lambda cls: cls("/nonexistent/cosign")))


def test_no_way_to_sign_is_one_line_naming_every_choice(fake_cosign: None) -> None:
    with pytest.raises(ProjectError) as refused:
        signing_for(Settings(), PIN, environ={})
    assert refused.value.message == NO_SIGNING_HELP
    assert "LLAMA_IMAGES_COSIGN_KEY" in NO_SIGNING_HELP
    assert "LLAMA_IMAGES_SIGNING=none" in NO_SIGNING_HELP
    assert "id-token: write" in NO_SIGNING_HELP


def test_unsigned_only_when_chosen() -> None:
    assert signing_for(Settings(signing="none"), PIN, environ=GITHUB) is None


def test_a_github_job_with_an_oidc_token_signs_keyless(fake_cosign: None) -> None:
    signing = signing_for(Settings(), PIN, environ=GITHUB)
    assert signing is not None and signing.mode == "keyless"
    assert signing.verifier.identity == KeylessIdentity(
        "https://github.com/Owner/repo/.github/workflows/base-images.yml@refs/tags/base-images/v1",
        "https://token.actions.githubusercontent.com",
    )


def test_keyless_outside_github_says_what_to_do(fake_cosign: None) -> None:
    with pytest.raises(ProjectError, match="keyless signing needs a GitHub Actions job"):
        signing_for(Settings(signing="keyless"), PIN, environ={})


def test_a_key_mode_without_a_key_or_with_a_missing_one_is_refused(
    fake_cosign: None, tmp_path: Path
) -> None:
    with pytest.raises(ProjectError, match="SIGNING=key needs LLAMA_IMAGES_COSIGN_KEY"):
        signing_for(Settings(signing="key"), PIN, environ={})
    missing = tmp_path / "cosign.key"
    with pytest.raises(ProjectError, match=f"the cosign key {missing} .* does not exist"):
        signing_for(Settings(cosign_key=str(missing)), PIN, environ=GITHUB)


def test_signing_settings_are_checked_at_load(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as wrong:
        load_settings(tmp_path, environ={"LLAMA_IMAGES_SIGNING": "keyles"})
    assert wrong.value.message == (
        "unknown signing mode 'keyles': choose one of auto, key, keyless, none "
        "(did you mean keyless?)"
    )
    chosen = load_settings(
        tmp_path,
        environ={"LLAMA_IMAGES_SIGNING": "key", "LLAMA_IMAGES_COSIGN_KEY": "env://COSIGN_KEY"},
    )
    assert (chosen.signing, chosen.cosign_key) == ("key", "env://COSIGN_KEY")
