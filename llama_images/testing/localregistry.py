"""A throwaway registry on loopback (Debian's docker-registry) that requires a login over TLS,
as hosted registries do: htpasswd (Basic) or signed tokens from an issuer started beside it
(Bearer). Used by the publish tests, the workflow run and the bench; needs the test extra."""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlparse

import bcrypt
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from llama_images.adapters.registry import docker_certs_dir
from llama_images.errors import ProjectError
from llama_images.testing.servers import free_port

REGISTRY_BINARY = "docker-registry"
SERVICE = "llama-images-registry"
ISSUER = "llama-images-token-issuer"
# In token mode this account may pull but never push: a registry that refuses the push.
PULL_ONLY_USER = "reader"
# "none" serves TLS with no login: for measurements, never for the publish tests.
RegistryAuth = Literal["htpasswd", "token", "none"]
STORAGE = "storage"  # beside registry.yml

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  tls:
    certificate: {cert}
    key: {key}
{auth}"""
HTPASSWD_AUTH = """\
auth:
  htpasswd:
    realm: {service}
    path: {htpasswd}
"""
TOKEN_AUTH = """\
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {ca}
"""


@dataclass(frozen=True)
class KeyPair:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        cert = folder / f"{stem}.crt"
        key = folder / f"{stem}.key"
        cert.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        return cert, key


def issue_certificate(
    name: str,
    issuer: KeyPair | None = None,
    *,
    days: int = 2,
    hosts: tuple[str, ...] = (),
    expired: bool = False,
) -> KeyPair:
    """A certificate for `name`, signed by `issuer` (self-signed CA when there is none);
    an expired one ended a day ago."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        now -= datetime.timedelta(days=days + 1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if hosts:
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts if h != "127.0.0.1"]
        names.append(x509.IPAddress(IPv4Address("127.0.0.1")))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer.key if issuer else key
    return KeyPair(key, builder.sign(signer, hashes.SHA256()))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(signer: KeyPair, account: str, access: list[dict[str, object]]) -> str:
    """A registry token (RS256 JWT) the registry verifies against its root certificate bundle."""
    der = signer.certificate.public_bytes(serialization.Encoding.DER)
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": account,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": secrets.token_hex(8),
        "access": access,
    }
    payload = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
    signature = signer.key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{payload}.{_b64url(signature)}"


def granted_access(scopes: list[str], account: str) -> list[dict[str, object]]:
    access: list[dict[str, object]] = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        wanted = [a for a in actions.split(",") if a]
        if account == PULL_ONLY_USER:
            wanted = [a for a in wanted if a == "pull"]
        access.append({"type": kind, "name": name, "actions": wanted})
    return access


@dataclass
class TokenIssuer:
    """Answers `GET /token?service=…&scope=…` with Basic credentials, as a registry's realm does."""

    signer: KeyPair
    accounts: dict[str, str]
    server: ThreadingHTTPServer | None = None
    # (account, requested scopes) of every token issued, for tests of what clients ask for.
    issued: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def realm(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def start(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                account = issuer.authenticate(self.headers.get("Authorization", ""))
                if account is None:
                    self.send_error(401, "bad credentials")
                    return
                scopes = parse_qs(urlparse(self.path).query).get("scope", [])
                issuer.issued.append((account, scopes))
                token = signed_token(issuer.signer, account, granted_access(scopes, account))
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def authenticate(self, header: str) -> str | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        expected = self.accounts.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            return None
        return user

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class LocalRegistry:
    host: str
    config: Path
    ca_file: Path
    username: str
    password: str
    process: subprocess.Popen[bytes] | None = None
    issuer: TokenIssuer | None = None
    log: Path = field(default_factory=lambda: Path(os.devnull))

    @property
    def readiness_probe(self) -> ssl.SSLContext:
        # Only "does it answer": the certificate may be made invalid on purpose.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def start(self) -> None:
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(self.config)], stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"https://{self.host}/v2/", verify=self.readiness_probe)
                if answer.status_code in (200, 401):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise ProjectError(f"docker-registry did not start on loopback (log: {self.log})")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill ends it: no request is finished."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    @property
    def storage(self) -> Path:
        """Where it keeps blobs, uploads and tags (kept across a restart)."""
        return self.config.parent / STORAGE

    def login(
        self,
        docker_config: Path,
        *,
        username: str | None = None,
        password: str | None = None,
        docker_cli: str = "/usr/bin/docker",
    ) -> None:
        """`docker login` into this registry, writing credentials under `docker_config`."""
        docker_config.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [docker_cli, "login", self.host, "-u", username or self.username, "--password-stdin"],
            input=(password or self.password).encode(),
            env={**os.environ, "DOCKER_CONFIG": str(docker_config)},
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise ProjectError(f"docker login {self.host} failed: {done.stderr.decode().strip()}")


def write_tls_files(folder: Path, *, expired: bool) -> tuple[KeyPair, Path, Path, Path]:
    """A CA, and a loopback server certificate it signed: (ca, ca file, cert file, key file)."""
    ca = issue_certificate("llama-images test CA")
    server = issue_certificate("localhost", ca, hosts=("localhost", "127.0.0.1"), expired=expired)
    ca_file, _ = ca.write(folder, "ca")
    cert, key = server.write(folder, "server")
    return ca, ca_file, cert, key


@contextlib.contextmanager
def trusted_by_engine(host: str, ca_file: Path) -> Iterator[None]:
    """The engine (and this project's registry client) trust `ca_file` for `host`."""
    folder = docker_certs_dir(host)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca_file, folder / "ca.crt")
    except OSError as exc:
        raise ProjectError(f"cannot install the test CA in {folder}: {exc.strerror}") from None
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def local_registry(
    workdir: Path, auth: RegistryAuth = "htpasswd", *, expired_certificate: bool = False
) -> Iterator[LocalRegistry]:
    """Serves a registry stored under `workdir`, with login over TLS, until the block ends."""
    if shutil.which(REGISTRY_BINARY) is None:
        raise ProjectError(
            "docker-registry is missing: apt-get install docker-registry "
            "(.ci/install-host installs it)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    ca, ca_file, cert, key = write_tls_files(workdir, expired=expired_certificate)
    username, password = "publisher", secrets.token_urlsafe(12)
    issuer: TokenIssuer | None = None
    if auth == "token":
        signer = issue_certificate(ISSUER, ca)
        issuer = TokenIssuer(signer, {username: password, PULL_ONLY_USER: password})
        issuer.start()
        auth_config = TOKEN_AUTH.format(
            realm=issuer.realm, service=SERVICE, issuer=ISSUER, ca=ca_file
        )
    elif auth == "htpasswd":
        htpasswd = workdir / "htpasswd"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        htpasswd.write_text(f"{username}:{hashed}\n")
        auth_config = HTPASSWD_AUTH.format(service=SERVICE, htpasswd=htpasswd)
    else:
        auth_config = ""
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(
        CONFIG.format(root=workdir / STORAGE, port=port, cert=cert, key=key, auth=auth_config)
    )
    host = f"localhost:{port}"
    server = LocalRegistry(
        host, config, ca_file, username, password, issuer=issuer, log=workdir / "registry.log"
    )
    try:
        with trusted_by_engine(host, ca_file):
            server.start()
            yield server
    finally:
        server.stop()
        if issuer is not None:
            issuer.stop()
