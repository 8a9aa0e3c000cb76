"""The only code that runs cosign: key pairs, signatures, attestations and their verification.

cosign reads registry credentials where `docker push` does (`DOCKER_CONFIG`, credential helpers)
and the password of an encrypted private key from `COSIGN_PASSWORD`. TLS trusts what the engine
trusts: the system's CAs plus `/etc/docker/certs.d/<host>/*.crt`, handed to cosign (Go) as
`SSL_CERT_FILE`. Key mode neither writes to nor reads from Rekor's transparency log (the public
key is the trust); keyless mode (a CI job's OIDC token, a Fulcio certificate) uses it as usual.
Every failure is one ProjectError line naming the cause.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_images.adapters.registry import docker_certs_dir
from llama_images.errors import ProjectError

COSIGN = "cosign"
INSTALL_HINT = "install cosign 2.5 (./.ci/install-host installs Debian trixie's package)"
# The in-toto predicate type cosign gives `attest --type cyclonedx`.
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"
COSIGN_TIMEOUT_S = 300.0
# Where Debian and Ubuntu keep the system's CA bundle, when Python names none.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class KeylessIdentity:
    """Whom a keyless signature must name: the certificate's subject and its OIDC issuer."""

    identity: str
    issuer: str = GITHUB_OIDC_ISSUER


@dataclass(frozen=True)
class Verifier:
    """What a signature is checked against: a public key (PEM text) or a keyless identity."""

    public_key: str = ""
    identity: KeylessIdentity | None = None

    def __post_init__(self) -> None:
        if bool(self.public_key) == (self.identity is not None):
            raise ValueError("a verifier takes a public key or a keyless identity, not both")


def registry_host(ref: str) -> str:
    """`localhost:5000/owner/llama.cpp@sha256:…` -> `localhost:5000`."""
    return ref.partition("/")[0]


def system_ca_bundle() -> Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return SYSTEM_CA_BUNDLE if SYSTEM_CA_BUNDLE.is_file() else None


def error_line(stderr: str) -> str:
    """cosign's own error (`Error: …`), else its last line; one line, not too long."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reason = next(
        (line[len("Error:") :].strip() for line in lines if line.startswith("Error:")), ""
    )
    reason = reason or (lines[-1] if lines else "no output")
    return reason if len(reason) <= 400 else reason[:397] + "..."


def decoded_statements(output: str) -> list[dict[str, Any]]:
    """The in-toto statements inside the DSSE envelopes `verify-attestation` prints."""
    statements: list[dict[str, Any]] = []
    for line in output.splitlines():
        if not line.strip().startswith("{"):
            continue
        envelope = json.loads(line)
        statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
        statements.append(statement)
    return statements


@dataclass(frozen=True)
class Cosign:
    """A cosign binary; with `password`, the private key's password it is given (else it reads
    COSIGN_PASSWORD from this process's environment)."""

    binary: str
    password: str | None = field(default=None, repr=False)

    @classmethod
    def find(cls) -> Cosign:
        found = shutil.which(COSIGN)
        if found is None:
            raise ProjectError(f"cosign is missing: {INSTALL_HINT}")
        return cls(found)

    def version(self) -> str:
        done = self._run(["version", "--json"], what="cosign version")
        try:
            return str(json.loads(done.stdout).get("gitVersion", ""))
        except ValueError:
            return ""

    @contextlib.contextmanager
    def _environment(self, ref: str, extra: Mapping[str, str]) -> Iterator[dict[str, str]]:
        """This process's environment, plus a CA bundle trusting what the engine trusts."""
        env = {**os.environ, **extra}
        if self.password is not None and "COSIGN_PASSWORD" not in extra:
            env["COSIGN_PASSWORD"] = self.password
        host_cas = sorted(docker_certs_dir(registry_host(ref)).glob("*.crt")) if ref else []
        if not host_cas:
            yield env
            return
        with tempfile.TemporaryDirectory(prefix="llama-images-cosign-") as tmp:
            bundle = Path(tmp) / "ca-bundle.crt"
            system = system_ca_bundle()
            parts = [system.read_bytes()] if system else []
            parts += [ca.read_bytes() for ca in host_cas]
            bundle.write_bytes(b"\n".join(parts))
            yield {**env, "SSL_CERT_FILE": str(bundle)}

    def _run(
        self,
        args: Sequence[str],
        *,
        what: str,
        ref: str = "",
        env: Mapping[str, str] | None = None,
        hint: str = "",
    ) -> subprocess.CompletedProcess[str]:
        with self._environment(ref, env or {}) as environment:
            try:
                done = subprocess.run(
                    [self.binary, *args],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    env=environment,
                    timeout=COSIGN_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ProjectError(
                    f"{what} failed: cosign gave no answer in {COSIGN_TIMEOUT_S:.0f} s"
                ) from None
            except OSError as exc:
                raise ProjectError(f"{what} failed: cannot run {self.binary}: {exc}") from None
        if done.returncode != 0:
            advice = f": {hint}" if hint else ""
            raise ProjectError(f"{what} failed: {error_line(done.stderr)}{advice}")
        return done

    # keys

    def generate_key_pair(self, folder: Path, password: str) -> tuple[Path, Path]:
        """A new encrypted key pair: (private key, public key) files in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        prefix = folder / "cosign"
        self._run(
            ["generate-key-pair", "--output-key-prefix", str(prefix)],
            what=f"cosign generate-key-pair in {folder}",
            env={"COSIGN_PASSWORD": password},
        )
        return prefix.with_suffix(".key"), prefix.with_suffix(".pub")

    def public_key(self, key: str) -> str:
        """The public key (PEM) of a private key reference; proves COSIGN_PASSWORD opens it."""
        done = self._run(
            ["public-key", "--key", key],
            what=f"reading the cosign private key {key}",
            hint="set COSIGN_PASSWORD to its password",
        )
        return done.stdout

    # signing

    def sign(self, ref: str, key: str = "") -> None:
        """Signs an image by digest; without a key, keyless (the environment's OIDC token)."""
        args = ["sign", "--yes", *self._signing_key(key), ref]
        self._run(args, what=f"cosign sign {ref}", ref=ref)

    def attest(self, ref: str, predicate: Path, predicate_type: str, key: str = "") -> None:
        """Attaches a signed in-toto attestation of `predicate` to an image by digest."""
        args = [
            "attest",
            "--yes",
            "--type",
            predicate_type,
            "--predicate",
            str(predicate),
            *self._signing_key(key),
            ref,
        ]
        self._run(args, what=f"cosign attest --type {predicate_type} {ref}", ref=ref)

    @staticmethod
    def _signing_key(key: str) -> list[str]:
        # Key mode trusts the key alone: nothing goes to the public transparency log.
        return ["--key", key, "--tlog-upload=false"] if key else []

    # verifying

    def verify(self, ref: str, verifier: Verifier) -> list[dict[str, Any]]:
        """The signed payloads of an image whose signature the verifier accepts."""
        with self._verifier_args(verifier) as trust:
            done = self._run(["verify", *trust, ref], what=f"cosign verify {ref}", ref=ref)
        payloads: list[dict[str, Any]] = json.loads(done.stdout)
        return payloads

    def verify_attestation(
        self, ref: str, verifier: Verifier, predicate_type: str
    ) -> list[dict[str, Any]]:
        """The in-toto statements of the image's attestations of this type the verifier accepts."""
        with self._verifier_args(verifier) as trust:
            done = self._run(
                ["verify-attestation", "--type", predicate_type, *trust, ref],
                what=f"cosign verify-attestation --type {predicate_type} {ref}",
                ref=ref,
            )
        return decoded_statements(done.stdout)

    @staticmethod
    @contextlib.contextmanager
    def _verifier_args(verifier: Verifier) -> Iterator[list[str]]:
        if verifier.identity is not None:
            yield [
                "--certificate-identity",
                verifier.identity.identity,
                "--certificate-oidc-issuer",
                verifier.identity.issuer,
            ]
            return
        with tempfile.TemporaryDirectory(prefix="llama-images-cosign-pub-") as tmp:
            public = Path(tmp) / "cosign.pub"
            public.write_text(verifier.public_key)
            yield ["--key", str(public), "--insecure-ignore-tlog"]
