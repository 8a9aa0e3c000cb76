"""The only code that talks to a registry's HTTP API (OCI distribution): manifests, blobs, tags.

Credentials are the ones `docker push` uses: read from the Docker configuration (`DOCKER_CONFIG`,
`auths`, `credsStore`, `credHelpers`) by the Docker SDK's own reader. A 401 is answered as its
`WWW-Authenticate` challenge asks: Basic, or a Bearer token from the realm it names, scoped to
the repository and the actions (pull, or pull and push) of the request. TLS trusts the system's
CAs plus `/etc/docker/certs.d/<host>/*.crt`, as the engine does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.auth
import docker.errors
import httpx

from llama_images.errors import ProjectError

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
INDEX_TYPES = (LIST_TYPE, OCI_INDEX_TYPE)
# How BuildKit marks an index entry that attests another entry (provenance, SBOM).
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION = "attestation-manifest"
CERTS_D = Path("/etc/docker/certs.d")
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
_SCOPED_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags)/")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def basic_header(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def engine_auth(self) -> dict[str, str]:
        """The same credentials in the form the engine's push and pull take."""
        if self.identity_token:
            return {"identitytoken": self.identity_token}
        return {"username": self.username, "password": self.password}


def docker_certs_dir(host: str) -> Path:
    return CERTS_D / host


def api_host(host: str) -> str:
    return "registry-1.docker.io" if host in DOCKER_HUB_HOSTS else host


def registry_credentials(host: str) -> Credentials | None:
    """What `docker login HOST` stored, through the config file or its credential helper."""
    try:
        config = docker.auth.load_config()
        found = docker.auth.resolve_authconfig(
            config, "docker.io" if host in DOCKER_HUB_HOSTS else host
        )
    except docker.errors.DockerException as exc:
        raise ProjectError(f"credentials for {host} cannot be read: {exc}") from None
    if not found:
        return None
    return Credentials(
        username=str(found.get("Username") or found.get("username") or ""),
        password=str(found.get("Password") or found.get("password") or ""),
        identity_token=str(found.get("IdentityToken") or ""),
    )


def tls_context(host: str) -> ssl.SSLContext:
    """The system's CAs, plus what the engine trusts for this host (certs.d)."""
    context = ssl.create_default_context()
    folder = docker_certs_dir(host)
    for ca in sorted(folder.glob("*.crt")):
        context.load_verify_locations(cafile=str(ca))
    for cert in sorted(folder.glob("*.cert")):
        context.load_cert_chain(str(cert), str(cert.with_suffix(".key")))
    return context


def request_scope(request: httpx.Request) -> str:
    match = _SCOPED_PATH.match(request.url.path)
    if match is None:
        return ""
    actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
    return f"repository:{match['name']}:{actions}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class ChallengeAuth(httpx.Auth):
    """Answers a registry's 401 challenge; tokens are kept per scope for the client's life."""

    requires_request_body = True

    def __init__(self, host: str, credentials: Credentials | None, tls: ssl.SSLContext) -> None:
        self.host = host
        self.credentials = credentials
        self.tls = tls
        self.tokens: dict[str, str] = {}
        self.basic = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = request_scope(request)
        if scope in self.tokens:
            request.headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        elif self.basic and self.credentials is not None:
            request.headers["Authorization"] = self.credentials.basic_header()
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self.credentials is not None:
            self.basic = True
            request.headers["Authorization"] = self.credentials.basic_header()
        elif scheme == "bearer" and "realm" in params:
            wanted = params.get("scope") or scope
            self.tokens[scope] = self.fetch_token(params["realm"], params.get("service"), wanted)
            request.headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        else:
            return
        yield request

    def fetch_token(self, realm: str, service: str | None, scope: str) -> str:
        query = {key: value for key, value in (("service", service), ("scope", scope)) if value}
        credentials = self.credentials
        try:
            with httpx.Client(verify=self.tls, timeout=60.0) as client:
                if credentials is not None and credentials.identity_token:
                    form = {
                        **query,
                        "grant_type": "refresh_token",
                        "refresh_token": credentials.identity_token,
                        "client_id": "llama-images",
                    }
                    answer = client.post(realm, data=form)
                else:
                    headers = {}
                    if credentials is not None:
                        headers["Authorization"] = credentials.basic_header()
                    answer = client.get(realm, params=query, headers=headers)
        except httpx.HTTPError as exc:
            raise ProjectError(
                f"the token service of {self.host} ({realm}) failed: {exc}"
            ) from None
        if answer.status_code in (401, 403):
            raise ProjectError(login_refused(self.host, credentials))
        if answer.status_code != 200:
            raise ProjectError(
                f"the token service of {self.host} ({realm}) gave {answer.status_code}"
            )
        document = answer.json()
        return str(document.get("token") or document.get("access_token") or "")


def login_refused(host: str, credentials: Credentials | None) -> str:
    if credentials is None:
        return f"registry {host} requires a login: run `docker login {host}`"
    who = credentials.username or "the stored identity token"
    return (
        f"registry {host} refused the login of {who}: run `docker login {host}` "
        "with a valid password or token"
    )


def error_detail(response: httpx.Response) -> str:
    """The registry's own error codes and messages, or the start of its answer."""
    try:
        errors = response.json().get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        return " ".join(response.text.split())[:200]


def _speaks_plain_http(exc: httpx.HTTPError) -> bool:
    text = str(exc).lower()
    return "wrong version number" in text or "record layer failure" in text


class Registry:
    """A registry reached over HTTPS, with the user's Docker credentials for it.

    A loopback registry that does not speak TLS is reached over HTTP, as the engine does."""

    def __init__(
        self, host: str, credentials: Credentials | None = None, timeout: float = 60.0
    ) -> None:
        self.host = host
        if credentials is None:
            credentials = registry_credentials(host)
        elif not (credentials.username or credentials.identity_token):
            credentials = None
        self.credentials = credentials
        self.tls = tls_context(host)
        self.timeout = timeout
        self.client = self._client("https")

    def _client(self, scheme: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{scheme}://{api_host(self.host)}/v2/",
            timeout=self.timeout,
            verify=self.tls,
            auth=ChallengeAuth(self.host, self.credentials, self.tls),
            follow_redirects=True,
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            loopback = self.host.rsplit(":", 1)[0] in LOOPBACK
            if loopback and _speaks_plain_http(exc) and self.client.base_url.scheme == "https":
                self.client = self._client("http")
                return self._request(method, path, **kwargs)
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise ProjectError(
                    f"registry {self.host}: its TLS certificate is not trusted ({exc}): add its "
                    f"CA to {docker_certs_dir(self.host)}/ca.crt or the system's trust store"
                ) from None
            raise ProjectError(f"registry {self.host} cannot be reached: {exc}") from None
        except httpx.HTTPError as exc:
            raise ProjectError(f"registry {self.host} cannot be reached: {exc}") from None
        if response.status_code == 401:
            _, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if params.get("error") == "insufficient_scope":
                raise self._refused(f"{method} {path.split('?')[0]}", response)
            raise ProjectError(login_refused(self.host, self.credentials))
        return response

    def _refused(self, what: str, response: httpx.Response) -> ProjectError:
        detail = error_detail(response)
        if response.status_code in (401, 403):
            who = self.credentials.username if self.credentials else "anonymous"
            return ProjectError(
                f"registry {self.host} denied {what} to {who} ({response.status_code} {detail}): "
                f"log in with an account that may push there (`docker login {self.host}`)"
            )
        return ProjectError(f"registry {self.host}: {what} gave {response.status_code} {detail}")

    def engine_auth(self) -> dict[str, str] | None:
        """The credentials for the engine's push and pull of this registry's images."""
        return self.credentials.engine_auth() if self.credentials else None

    def ping(self) -> None:
        """Reaches the registry and proves the login works before anything is pushed."""
        response = self._request("GET", "")
        if response.status_code != 200:
            raise ProjectError(
                f"{self.host} is not a registry (GET /v2/ gave {response.status_code})"
            )

    def manifest(self, name: str, reference: str) -> tuple[Descriptor, dict[str, Any]] | None:
        """The manifest a tag or digest names, or None when there is none."""
        accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
        response = self._request("GET", f"{name}/manifests/{reference}", headers={"Accept": accept})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(f"manifest {name}:{reference}", response)
        body = response.content
        descriptor = Descriptor(
            media_type=response.headers.get("Content-Type", "").split(";")[0],
            digest=response.headers.get("Docker-Content-Digest", "")
            or "sha256:" + hashlib.sha256(body).hexdigest(),
            size=len(body),
        )
        document: dict[str, Any] = json.loads(body)
        return descriptor, document

    def blob(self, name: str, digest: str) -> bytes:
        response = self._request("GET", f"{name}/blobs/{digest}")
        if response.status_code != 200:
            raise self._refused(f"blob {name}@{digest}", response)
        return response.content

    def put_blob(self, name: str, data: bytes) -> str:
        """Uploads a blob (monolithic upload); returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        started = self._request("POST", f"{name}/blobs/uploads/")
        if started.status_code != 202:
            raise self._refused(f"a blob upload to {name}", started)
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        response = self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code != 201:
            raise self._refused(f"blob {digest} of {name}", response)
        return digest

    def put_manifest(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        response = self._request(
            "PUT", f"{name}/manifests/{tag}", content=body, headers={"Content-Type": media_type}
        )
        if response.status_code not in (200, 201):
            raise self._refused(f"manifest {name}:{tag}", response)
        return str(response.headers.get("Docker-Content-Digest", ""))

    def copy_tag(self, name: str, source: str, tag: str) -> str:
        """Points `tag` at the manifest `source` names, byte for byte."""
        response = self._request(
            "GET",
            f"{name}/manifests/{source}",
            headers={"Accept": ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))},
        )
        if response.status_code != 200:
            raise self._refused(f"{name}:{source}", response)
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        return self.put_manifest(name, tag, response.content, media_type)

    def tags(self, name: str) -> list[str]:
        response = self._request("GET", f"{name}/tags/list")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise self._refused(f"tags of {name}", response)
        return [str(tag) for tag in response.json().get("tags") or []]
