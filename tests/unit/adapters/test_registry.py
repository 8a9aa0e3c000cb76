"""The registry client against Debian's docker-registry on loopback, requiring a login over TLS:
credentials as Docker stores them (config file, credential helpers), Basic and Bearer challenges,
scopes, TLS trust. No engine needed."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from llama_images.adapters.registry import Credentials, Registry, docker_certs_dir, parse_challenge
from llama_images.errors import ProjectError
from llama_images.testing.localregistry import (
    REGISTRY_BINARY,
    LocalRegistry,
    RegistryAuth,
    issue_certificate,
    local_registry,
)

pytestmark = pytest.mark.skipif(
    shutil.which(REGISTRY_BINARY) is None,
    reason="Debian's docker-registry is not installed (.ci/install-host installs it)",
)

HELPER = """#!/bin/sh
# A Docker credential helper: `get` reads a server URL on stdin and answers with its secret.
[ "$1" = get ] || exit 1
read -r server
[ "$server" = "{host}" ] || {{ echo "credentials not found in native keychain"; exit 1; }}
printf '{{"ServerURL": "%s", "Username": "{user}", "Secret": "{secret}"}}' "$server"
"""


@pytest.fixture(params=["htpasswd", "token"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalRegistry]:
    auth: RegistryAuth = request.param
    with local_registry(tmp_path / "registry", auth=auth) as running:
        yield running


def docker_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: LocalRegistry,
    config: dict[str, object],
) -> None:
    """A Docker configuration, and a credential helper program named `docker-credential-test`."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    helper.write_text(HELPER.format(host=server.host, user=server.username, secret=server.password))
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


@pytest.mark.parametrize("store", ["credsStore", "credHelpers"])
def test_credentials_from_a_credential_helper(
    server: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    config: dict[str, object] = (
        {"credsStore": "test"} if store == "credsStore" else {"credHelpers": {server.host: "test"}}
    )
    docker_config(tmp_path, monkeypatch, server, config)
    registry = Registry(server.host)
    assert registry.credentials == Credentials(server.username, server.password)
    registry.ping()
    digest = registry.put_blob("team/app", b"layer bytes")
    assert registry.blob("team/app", digest) == b"layer bytes"


def test_bearer_tokens_are_scoped_to_the_repository_and_action(tmp_path: Path) -> None:
    with local_registry(tmp_path / "registry", auth="token") as server:
        assert server.issuer is not None
        registry = Registry(server.host, Credentials(server.username, server.password))
        registry.put_blob("team/app", b"x")
        registry.tags("team/app")
        # The registry names a scope's actions in no fixed order.
        scopes = [
            (name, frozenset(actions.split(",")))
            for _, asked in server.issuer.issued
            for name, _, actions in (scope.rpartition(":") for scope in asked)
        ]
        issued = server.issuer.issued
        assert {account for account, _ in issued} == {server.username}, issued
        assert ("repository:team/app", frozenset({"pull", "push"})) in scopes, issued
        assert ("repository:team/app", frozenset({"pull"})) in scopes, issued
        # A token is fetched once per scope, then reused.
        count = len(issued)
        registry.tags("team/app")
        assert len(issued) == count, issued


def test_missing_and_wrong_credentials_are_one_line(server: LocalRegistry) -> None:
    with pytest.raises(ProjectError, match=r"requires a login: run `docker login localhost:\d+`"):
        Registry(server.host, Credentials()).ping()
    with pytest.raises(ProjectError, match="refused the login of publisher") as refused:
        Registry(server.host, Credentials(server.username, "wrong")).ping()
    assert "\n" not in refused.value.message


def test_a_registry_signed_by_an_untrusted_ca_is_refused(server: LocalRegistry) -> None:
    issue_certificate("another CA").write(docker_certs_dir(server.host), "ca")
    with pytest.raises(ProjectError, match="TLS certificate is not trusted"):
        Registry(server.host, Credentials(server.username, server.password)).ping()


def test_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    with local_registry(tmp_path / "registry", expired_certificate=True) as server:
        with pytest.raises(
            ProjectError, match=r"TLS certificate is not trusted.*expired"
        ) as refused:
            Registry(server.host, Credentials(server.username, server.password)).ping()
        assert "\n" not in refused.value.message


def test_challenge_parameters() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:team/app:pull,push",error="insufficient_scope"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:team/app:pull,push",
        "error": "insufficient_scope",
    }
