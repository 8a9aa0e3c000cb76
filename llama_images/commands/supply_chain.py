"""What a published image proves about itself: an SBOM and a cosign signature.

The SBOM is CycloneDX 1.6, made with cyclonedx-python-lib from facts read inside the published
image (pulled by digest): its distribution packages (`dpkg-query`, or `rpm -qa` on RPM bases),
every file under /app with its sha256, and the llama.cpp source it was built from (tag, commit,
build number, and the pin's proof: the source archive's sha256). cosign signs the image index
by digest and attaches the SBOM as a signed attestation (`cosign attest --type cyclonedx`), then
both are verified; only then does publishing move `latest-*`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Commit, Component, ComponentType, Pedigree
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from llama_images.adapters.cosign import (
    CYCLONEDX_PREDICATE,
    Cosign,
    KeylessIdentity,
    Verifier,
)
from llama_images.adapters.source import Pin, SourceSpec
from llama_images.errors import ProjectError
from llama_images.model.metadata import LABEL_NAMESPACE, OCI, VERSION_JSON_PATH
from llama_images.model.settings import ENV_PREFIX, Settings
from llama_images.paths import user_path

if TYPE_CHECKING:
    from llama_images.adapters.engine import Engine

SBOM_FORMAT = "CycloneDX 1.6"
SBOM_PREDICATE_TYPE = "cyclonedx"  # cosign's name for CYCLONEDX_PREDICATE
APP_ROOT = "/app"
PROPERTY = LABEL_NAMESPACE  # namespace of this project's CycloneDX properties
LLAMA_CPP_REPOSITORY = "https://github.com/ggml-org/llama.cpp"
_SECTION = "@@llama-images-sbom@@ "
# Read inside the image, as root (every file under /app is readable to it), one section each.
COLLECT_SCRIPT = f"""\
set -e
echo '{_SECTION}os-release'
cat /etc/os-release
echo '{_SECTION}packages'
if command -v dpkg-query > /dev/null 2>&1; then
    echo deb
    dpkg-query -W -f '${{db:Status-Abbrev}}\\t${{Package}}\\t${{Version}}\\t${{Architecture}}\
\\t${{source:Package}}\\t${{source:Version}}\\n'
elif command -v rpm > /dev/null 2>&1; then
    echo rpm
    rpm -qa --qf '%{{NAME}}\\t%{{EPOCH}}\\t%{{VERSION}}-%{{RELEASE}}\\t%{{ARCH}}\
\\t%{{SOURCERPM}}\\n'
else
    echo none
fi
echo '{_SECTION}files'
find {APP_ROOT} -type f -exec sha256sum {{}} +
echo '{_SECTION}links'
find {APP_ROOT} -type l -printf '%p\\t%l\\n'
echo '{_SECTION}version.json'
cat {VERSION_JSON_PATH}
"""
NO_SIGNING_HELP = (
    "publishing signs every image with cosign, and no way to sign is set: set "
    f"{ENV_PREFIX}COSIGN_KEY to a cosign private key (cosign generate-key-pair; its password "
    "in COSIGN_PASSWORD), run in a GitHub Actions job with `permissions: id-token: write` for "
    f"keyless signing, or set {ENV_PREFIX}SIGNING=none to publish unsigned"
)


@dataclass(frozen=True)
class Package:
    """One installed distribution package."""

    kind: str  # "deb" or "rpm"
    name: str
    version: str
    arch: str
    source: str = ""  # the source package (deb) or source RPM
    source_version: str = ""
    epoch: str = ""


@dataclass(frozen=True)
class AppFile:
    """A file under /app: a regular file with its sha256, or a link with its target."""

    path: str
    sha256: str = ""
    link: str = ""


@dataclass(frozen=True)
class ImageFacts:
    """What the SBOM says, read from one published image."""

    repository: str  # e.g. ghcr.io/owner/llama.cpp
    digest: str  # the published index's digest: what is signed
    tag: str  # the versioned tag
    platform: str  # the platform whose image the facts were read from
    platform_digest: str
    os_release: Mapping[str, str]
    packages: tuple[Package, ...]
    files: tuple[AppFile, ...]
    version_json: Mapping[str, Any]
    labels: Mapping[str, str] = field(default_factory=dict)


def parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, equals, value = line.strip().partition("=")
        if equals and key and not key.startswith("#"):
            values[key] = shlex.split(value)[0] if value.strip() else ""
    return values


def parse_packages(text: str) -> tuple[Package, ...]:
    """`dpkg-query` lines (installed only) or `rpm -qa` lines, after a line naming which."""
    lines = text.splitlines()
    kind = lines[0].strip() if lines else "none"
    found: list[Package] = []
    for line in lines[1:]:
        cells = line.split("\t")
        if kind == "deb" and len(cells) == 6:
            status, name, version, arch, source, source_version = cells
            if not status.startswith("ii"):
                continue  # removed, config files only, half installed
            found.append(Package("deb", name, version, arch, source or name, source_version))
        elif kind == "rpm" and len(cells) == 5:
            name, epoch, version, arch, source_rpm = cells
            epoch = "" if epoch in ("(none)", "0") else epoch
            found.append(Package("rpm", name, version, arch, source_rpm, "", epoch))
    return tuple(sorted(found, key=lambda p: (p.name, p.arch)))


def unescape(name: str) -> str:
    """A file name as `sha256sum` escapes it (`\\n`, `\\\\`), read back."""
    out: list[str] = []
    chars = iter(name)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def parse_files(sums: str, links: str) -> tuple[AppFile, ...]:
    """`sha256sum` lines (a leading backslash marks an escaped name) and `path<TAB>target`."""
    files: list[AppFile] = []
    for line in sums.splitlines():
        if not line.strip():
            continue
        digest, _, path = line.partition("  ")
        if digest.startswith("\\"):
            digest = digest[1:]
            path = unescape(path)
        files.append(AppFile(path, sha256=digest))
    for line in links.splitlines():
        path, tab, target = line.partition("\t")
        if tab:
            files.append(AppFile(path, link=target))
    return tuple(sorted(files, key=lambda f: f.path))


def sections(output: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(_SECTION):
            current = found.setdefault(line[len(_SECTION) :].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


def collect_facts(
    engine: Engine,
    pinned: str,
    *,
    tag: str,
    platform_digests: Mapping[str, str],
) -> ImageFacts:
    """Reads the facts of the SBOM inside a pulled image (`repository@digest`)."""
    code, output = engine.run(pinned, ["-c", COLLECT_SCRIPT], entrypoint=["/bin/sh"], user="0:0")
    if code != 0:
        raise ProjectError(f"{pinned}: reading its packages and files failed: {output[-300:]}")
    parts = sections(output)
    missing = [
        name
        for name in ("os-release", "packages", "files", "links", "version.json")
        if name not in parts
    ]
    if missing:
        raise ProjectError(f"{pinned}: no {', '.join(missing)} in what the image printed")
    try:
        version_json: dict[str, Any] = json.loads(parts["version.json"])
    except ValueError:
        raise ProjectError(f"{pinned}: {VERSION_JSON_PATH} is not JSON") from None
    repository, _, digest = pinned.partition("@")
    platform = str(version_json.get("platform", ""))
    return ImageFacts(
        repository=repository,
        digest=digest,
        tag=tag,
        platform=platform,
        platform_digest=platform_digests.get(platform, ""),
        os_release=parse_os_release(parts["os-release"]),
        packages=parse_packages(parts["packages"]),
        files=parse_files(parts["files"], parts["links"]),
        version_json=version_json,
        labels=engine.image_labels(pinned),
    )


def _properties(values: Iterable[tuple[str, str]]) -> list[Property]:
    return [Property(name=f"{PROPERTY}:{name}", value=value) for name, value in values if value]


def package_component(package: Package, os_release: Mapping[str, str]) -> Component:
    distro_id = os_release.get("ID", "")
    distro = "-".join(p for p in (distro_id, os_release.get("VERSION_ID", "")) if p)
    qualifiers = {"arch": package.arch}
    if package.epoch:
        qualifiers["epoch"] = package.epoch
    # The source package, where it is not the binary one (purl's `upstream` qualifier).
    source_version = package.source_version or package.version
    if (
        package.kind == "deb"
        and package.source
        and (package.source != package.name or source_version != package.version)
    ):
        upstream = package.source
        if source_version != package.version:
            upstream += f"@{source_version}"
        qualifiers["upstream"] = upstream
    if distro:
        qualifiers["distro"] = distro
    purl = PackageURL(
        type=package.kind,
        namespace=distro_id or None,
        name=package.name,
        version=package.version,
        qualifiers=qualifiers,
    )
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        purl=purl,
        bom_ref=purl.to_string(),
        properties=_properties(
            [
                ("package:kind", package.kind),
                ("package:source", package.source),
                ("package:source-version", package.source_version),
            ]
        ),
    )


def file_component(file: AppFile) -> Component:
    return Component(
        type=ComponentType.FILE,
        name=file.path,
        bom_ref=f"file:{file.path}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=file.sha256)] if file.sha256 else [],
        properties=_properties([("symlink-target", file.link)]),
    )


def _source_reference(spec: SourceSpec, commit: str) -> ExternalReference | None:
    """Where the pin lets the source come from, with its proof."""
    if spec.kind == "git":
        return ExternalReference(
            type=ExternalReferenceType.VCS,
            url=XsUri(spec.url),
            comment=f"proof: the checked-out HEAD is {commit}",
        )
    if spec.kind == "pypi-sdist":
        return ExternalReference(
            type=ExternalReferenceType.SOURCE_DISTRIBUTION,
            url=XsUri(f"https://pypi.org/project/{spec.package}/{spec.version}/"),
            comment=f"{spec.package}=={spec.version} sdist, llama.cpp in {spec.subdir}; "
            "proof: the archive's sha256",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=spec.sha256)],
        )
    return None


def llama_cpp_component(llama: Mapping[str, Any], pin: Pin) -> Component:
    """The llama.cpp source the image was built from; the pin's proofs when it is the pin's."""
    tag, commit = str(llama.get("tag", "")), str(llama.get("commit", ""))
    build = str(llama.get("build_number", ""))
    pinned = commit == pin.commit
    references = [
        ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(LLAMA_CPP_REPOSITORY))
    ]
    if pinned:
        references += [r for s in pin.sources if (r := _source_reference(s, commit)) is not None]
    archive = next((s.sha256 for s in pin.sources if s.sha256), "") if pinned else ""
    return Component(
        type=ComponentType.APPLICATION,
        group="ggml-org",
        name="llama.cpp",
        version=tag,
        bom_ref="llama.cpp",
        purl=PackageURL(type="github", namespace="ggml-org", name="llama.cpp", version=commit),
        description="the llama.cpp source llama-server and its libraries under /app are built from",
        external_references=references,
        pedigree=Pedigree(
            commits=[Commit(uid=commit, url=XsUri(f"{LLAMA_CPP_REPOSITORY}/commit/{commit}"))]
        ),
        properties=_properties(
            [
                ("llama-cpp.tag", tag),
                ("llama-cpp.commit", commit),
                ("llama-cpp.build-number", build),
                ("llama-cpp.source", str(llama.get("source", ""))),
                ("llama-cpp.pinned", str(pinned).lower()),
                ("llama-cpp.source-sha256", archive),
            ]
        ),
    )


def build_sbom(facts: ImageFacts, pin: Pin, tool_version: str = "") -> Bom:
    """The CycloneDX document of a published image."""
    name = facts.repository.rpartition("/")[2]
    image = Component(
        type=ComponentType.CONTAINER,
        name=facts.repository,
        version=facts.digest,
        bom_ref="image",
        purl=PackageURL(
            type="oci",
            name=name,
            version=facts.digest,
            qualifiers={"repository_url": facts.repository, "tag": facts.tag.rpartition(":")[2]},
        ),
        description=facts.labels.get(f"{OCI}.description"),
        properties=_properties(
            [
                ("tag", facts.tag),
                ("version", str(facts.version_json.get("version", ""))),
                ("variant", str(facts.version_json.get("variant", ""))),
                ("revision", facts.labels.get(f"{OCI}.revision", "")),
                ("source", facts.labels.get(f"{OCI}.source", "")),
                ("sbom.platform", facts.platform),
                ("sbom.platform-digest", facts.platform_digest),
            ]
        ),
    )
    metadata = BomMetaData(component=image)
    metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="llama-images", version=tool_version or None)
    )
    metadata.tools.components.add(
        Component(
            type=ComponentType.LIBRARY,
            name="cyclonedx-python-lib",
            version=importlib.metadata.version("cyclonedx-python-lib"),
        )
    )
    bom = Bom(metadata=metadata)
    os_release = facts.os_release
    parts: list[Component] = []
    if os_release.get("ID"):
        parts.append(
            Component(
                type=ComponentType.OPERATING_SYSTEM,
                name=os_release["ID"],
                version=os_release.get("VERSION_ID") or None,
                description=os_release.get("PRETTY_NAME") or None,
                bom_ref=f"os:{os_release['ID']}",
            )
        )
    llama = facts.version_json.get("llama_cpp") or {}
    parts.append(llama_cpp_component(llama, pin))
    parts += [package_component(p, os_release) for p in facts.packages]
    parts += [file_component(f) for f in facts.files]
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(image, parts)
    return bom


def sbom_json(bom: Bom) -> str:
    return JsonV1Dot6(bom).output_as_string(indent=None)


def sbom_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a release record says about an SBOM."""
    components = document.get("components") or []
    kinds: dict[str, int] = {}
    for part in components:
        kinds[part.get("type", "")] = kinds.get(part.get("type", ""), 0) + 1
    llama: Mapping[str, Any] = next((c for c in components if c.get("bom-ref") == "llama.cpp"), {})
    image = (document.get("metadata") or {}).get("component") or {}
    properties = {p["name"]: p.get("value", "") for p in image.get("properties") or []}
    return {
        "format": SBOM_FORMAT,
        "predicate_type": CYCLONEDX_PREDICATE,
        "serial_number": document.get("serialNumber", ""),
        "packages": kinds.get("library", 0),
        "files": kinds.get("file", 0),
        "llama_cpp": {"tag": llama.get("version", ""), "commit": llama_commit(document)},
        "platform": properties.get(f"{PROPERTY}:sbom.platform", ""),
        "platform_digest": properties.get(f"{PROPERTY}:sbom.platform-digest", ""),
    }


def llama_commit(document: Mapping[str, Any]) -> str:
    for part in document.get("components") or []:
        if part.get("bom-ref") == "llama.cpp":
            commits = (part.get("pedigree") or {}).get("commits") or []
            return str(commits[0].get("uid", "")) if commits else ""
    return ""


# signing


def github_identity(environ: Mapping[str, str]) -> KeylessIdentity | None:
    """The identity a keyless signature made in this GitHub Actions job carries, when the job
    holds an OIDC token (`permissions: id-token: write`)."""
    if not (
        environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        and environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    ):
        return None
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    workflow = environ.get("GITHUB_WORKFLOW_REF", "")
    if not workflow:
        return None
    return KeylessIdentity(f"{server}/{workflow}")


def key_reference(text: str) -> str:
    """A key setting as cosign takes it: an existing file, or a reference like env://NAME."""
    if "://" in text:
        return text
    path = user_path(text, f"{ENV_PREFIX}COSIGN_KEY")
    if not path.is_file():
        raise ProjectError(
            f"the cosign key {path} ({ENV_PREFIX}COSIGN_KEY) does not exist: make a key pair "
            "with `cosign generate-key-pair`, or name the private key's file"
        )
    return str(path.resolve())


@dataclass(frozen=True)
class Signing:
    """How publishing signs an index and attests its SBOM, and what verification expects."""

    cosign: Cosign
    verifier: Verifier
    pin: Pin
    key: str = ""  # empty: keyless
    tool_version: str = ""

    @property
    def mode(self) -> str:
        return "key" if self.key else "keyless"

    @classmethod
    def with_key(cls, cosign: Cosign, key: str, pin: Pin, tool_version: str = "") -> Signing:
        """Key mode; reading the public key proves the key opens with COSIGN_PASSWORD."""
        return cls(cosign, Verifier(public_key=cosign.public_key(key)), pin, key, tool_version)

    def sbom(
        self, engine: Engine, pinned: str, *, tag: str, platform_digests: Mapping[str, str]
    ) -> str:
        """The SBOM (JSON) of a pulled image, pinned by digest."""
        facts = collect_facts(engine, pinned, tag=tag, platform_digests=platform_digests)
        return sbom_json(build_sbom(facts, self.pin, self.tool_version))

    def sign(self, pinned: str, sbom: str) -> None:
        """Signs the image and attaches its SBOM as a signed attestation."""
        self.cosign.sign(pinned, self.key)
        with tempfile.TemporaryDirectory(prefix="llama-images-sbom-") as tmp:
            predicate = Path(tmp) / "sbom.cdx.json"
            predicate.write_text(sbom)
            self.cosign.attest(pinned, predicate, SBOM_PREDICATE_TYPE, self.key)

    def verify(self, pinned: str, sbom: str) -> dict[str, Any]:
        """Verifies the signature and the SBOM attestation of `repository@digest`; the facts
        a release record keeps."""
        digest = pinned.partition("@")[2]
        payloads = self.cosign.verify(pinned, self.verifier)
        signed = {
            p.get("critical", {}).get("image", {}).get("docker-manifest-digest") for p in payloads
        }
        if digest not in signed:
            raise ProjectError(f"cosign verify {pinned}: no verified signature names {digest}")
        document = json.loads(sbom)
        statements = self.cosign.verify_attestation(pinned, self.verifier, SBOM_PREDICATE_TYPE)
        serials = {
            (s.get("predicate") or {}).get("serialNumber")
            for s in statements
            if any(
                f"sha256:{d.get('digest', {}).get('sha256')}" == digest
                for d in s.get("subject", [])
            )
        }
        if document.get("serialNumber") not in serials:
            raise ProjectError(
                f"cosign verify-attestation {pinned}: the verified attestations do not hold "
                f"the SBOM {document.get('serialNumber')} just attached"
            )
        record: dict[str, Any] = {
            "mode": self.mode,
            "signed": digest,
            "verified": True,
            "sbom": sbom_summary(document),
        }
        if self.verifier.identity is not None:
            record["identity"] = self.verifier.identity.identity
            record["issuer"] = self.verifier.identity.issuer
        else:
            record["public_key_sha256"] = hashlib.sha256(
                self.verifier.public_key.encode()
            ).hexdigest()
        return record


def signing_for(
    settings: Settings, pin: Pin, tool_version: str = "", environ: Mapping[str, str] | None = None
) -> Signing | None:
    """The signing the settings choose, checked (cosign present, key opens); None only when
    publishing unsigned was chosen (`signing = none`)."""
    environ = os.environ if environ is None else environ
    mode = settings.signing
    if mode == "none":
        return None
    identity = github_identity(environ)
    if mode == "auto":
        if settings.cosign_key:
            mode = "key"
        elif identity is not None:
            mode = "keyless"
        else:
            raise ProjectError(NO_SIGNING_HELP)
    if mode == "key":
        if not settings.cosign_key:
            raise ProjectError(
                f"{ENV_PREFIX}SIGNING=key needs {ENV_PREFIX}COSIGN_KEY: the cosign private key "
                "(cosign generate-key-pair makes one; its password in COSIGN_PASSWORD)"
            )
        key = key_reference(settings.cosign_key)
        return Signing.with_key(Cosign.find(), key, pin, tool_version)
    if identity is None:
        raise ProjectError(
            "keyless signing needs a GitHub Actions job holding an OIDC token "
            f"(`permissions: id-token: write`): elsewhere set {ENV_PREFIX}COSIGN_KEY"
        )
    return Signing(Cosign.find(), Verifier(identity=identity), pin, tool_version=tool_version)
