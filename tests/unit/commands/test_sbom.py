"""The SBOM builder on facts as an image prints them: no engine, checked against the
CycloneDX 1.6 JSON schema."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from llama_images.adapters.source import Pin, SourceSpec
from llama_images.commands.supply_chain import (
    COLLECT_SCRIPT,
    ImageFacts,
    build_sbom,
    llama_commit,
    parse_files,
    parse_os_release,
    parse_packages,
    sbom_json,
    sbom_summary,
    sections,
)

COMMIT = "4df29be4f4c3673f428170fda944a5b19f743bb8"
SDIST_SHA256 = "1139dbb54509074b70893fab8554e3b079aa9f4d312058ce4018ef0019e3de12"
PIN = Pin(
    tag="b10454",
    commit=COMMIT,
    build_number=10454,
    sources=(
        SourceSpec(kind="git", url="https://github.com/ggml-org/llama.cpp.git"),
        SourceSpec(
            kind="pypi-sdist",
            package="llama-cpp-python",
            version="0.3.35",
            subdir="vendor/llama.cpp",
            sha256=SDIST_SHA256,
        ),
    ),
)
SERVER = "/app/bin/x86_64-unknown-linux-gnu/cpu/llama-server"
# What COLLECT_SCRIPT prints in a Debian image (trimmed), sections marked as it marks them.
MARK = "@@llama-images-sbom@@ "
PRINTED = f"""\
{MARK}os-release
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
ID=debian
{MARK}packages
deb
ii \tlibgomp1\t14.2.0-19\tamd64\tgcc-14\t14.2.0-19
ii \tlibc6\t2.41-12\tamd64\tglibc\t2.41-12
ii \tbash\t5.2.37-2+b5\tamd64\tbash\t5.2.37-2
rc \tgone\t1.0\tamd64\tgone\t1.0
{MARK}files
{"a" * 64}  {SERVER}
{"b" * 64}  /app/bin/x86_64-unknown-linux-gnu/cpu/libllama.so.0.0.1
{"c" * 64}  /app/version.json
{MARK}links
/app/bin/x86_64-unknown-linux-gnu/cpu/libllama.so.0\tlibllama.so.0.0.1
{MARK}version.json
{{"version": "2611221813-867866f", "variant": "cpu", "platform": "linux/amd64",
  "llama_cpp": {{"tag": "b10454", "commit": "{COMMIT}", "build_number": 10454,
  "source": "pypi-sdist llama-cpp-python==0.3.35"}}}}
"""
INDEX = "sha256:" + "1" * 64
PLATFORM = "sha256:" + "2" * 64


def facts() -> ImageFacts:
    parts = sections(PRINTED)
    return ImageFacts(
        repository="ghcr.io/owner/llama.cpp",
        digest=INDEX,
        tag="ghcr.io/owner/llama.cpp:cpu-2611221813-867866f",
        platform="linux/amd64",
        platform_digest=PLATFORM,
        os_release=parse_os_release(parts["os-release"]),
        packages=parse_packages(parts["packages"]),
        files=parse_files(parts["files"], parts["links"]),
        version_json=json.loads(parts["version.json"]),
        labels={"org.opencontainers.image.revision": "f" * 40},
    )


def document(image: ImageFacts | None = None, pin: Pin = PIN) -> dict[str, Any]:
    text = sbom_json(build_sbom(image or facts(), pin, "2611221813-867866f"))
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def by_ref(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in doc["components"]}


def properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def test_the_collect_script_prints_every_section() -> None:
    for name in ("os-release", "packages", "files", "links", "version.json"):
        assert f"{MARK}{name}" in COLLECT_SCRIPT
    assert "dpkg-query -W" in COLLECT_SCRIPT and "rpm -qa" in COLLECT_SCRIPT


def test_installed_debian_packages_become_purls() -> None:
    doc = document()
    packages = [c for c in doc["components"] if c["type"] == "library"]
    assert [c["name"] for c in packages] == ["bash", "libc6", "libgomp1"], "installed only"
    gomp = next(c for c in packages if c["name"] == "libgomp1")
    assert gomp["version"] == "14.2.0-19"
    assert gomp["purl"] == (
        "pkg:deb/debian/libgomp1@14.2.0-19?arch=amd64&distro=debian-13&upstream=gcc-14"
    )
    bash = next(c for c in packages if c["name"] == "bash")
    assert "upstream=bash%405.2.37-2" in bash["purl"], "a binNMU names its source version"
    os_component = next(c for c in doc["components"] if c["type"] == "operating-system")
    assert (os_component["name"], os_component["version"]) == ("debian", "13")


def test_every_file_under_app_is_listed_with_its_sha256() -> None:
    components = by_ref(document())
    server = components[f"file:{SERVER}"]
    assert server["type"] == "file"
    assert server["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    link = components["file:/app/bin/x86_64-unknown-linux-gnu/cpu/libllama.so.0"]
    assert properties(link)["org.llama-images:symlink-target"] == "libllama.so.0.0.1"
    files = [ref for ref in components if ref.startswith("file:")]
    assert len(files) == 4


def test_llama_cpp_names_its_tag_commit_build_and_the_pins_checksum() -> None:
    doc = document()
    llama = by_ref(doc)["llama.cpp"]
    assert llama["version"] == "b10454"
    assert llama["purl"] == f"pkg:github/ggml-org/llama.cpp@{COMMIT}"
    assert llama["pedigree"]["commits"][0]["uid"] == COMMIT
    assert llama_commit(doc) == COMMIT
    found = properties(llama)
    assert found["org.llama-images:llama-cpp.build-number"] == "10454"
    assert found["org.llama-images:llama-cpp.source-sha256"] == SDIST_SHA256
    sdist = next(r for r in llama["externalReferences"] if r["type"] == "source-distribution")
    assert sdist["hashes"] == [{"alg": "SHA-256", "content": SDIST_SHA256}]
    assert any(r["type"] == "vcs" for r in llama["externalReferences"])


def test_another_commit_than_the_pins_carries_no_proof_of_the_pin() -> None:
    image = facts()
    other = {
        **image.version_json,
        "llama_cpp": {**image.version_json["llama_cpp"], "commit": "0" * 40},
    }
    llama = by_ref(document(replace(image, version_json=other)))["llama.cpp"]
    assert properties(llama)["org.llama-images:llama-cpp.pinned"] == "false"
    assert "org.llama-images:llama-cpp.source-sha256" not in properties(llama)


def test_the_sbom_describes_the_published_index_and_where_it_was_read() -> None:
    doc = document()
    image = doc["metadata"]["component"]
    assert (image["type"], image["version"]) == ("container", INDEX)
    assert image["purl"].startswith("pkg:oci/llama.cpp@sha256:")
    assert image["purl"].endswith("&tag=cpu-2611221813-867866f")
    assert properties(image)["org.llama-images:sbom.platform-digest"] == PLATFORM
    tools = [t["name"] for t in doc["metadata"]["tools"]["components"]]
    assert "cyclonedx-python-lib" in tools
    (root,) = [d for d in doc["dependencies"] if d["ref"] == "image"]
    assert len(root["dependsOn"]) == len(doc["components"])
    summary = sbom_summary(doc)
    assert (summary["packages"], summary["files"]) == (3, 4)
    assert summary["llama_cpp"] == {"tag": "b10454", "commit": COMMIT}
    assert summary["platform"] == "linux/amd64"


def test_rpm_packages_keep_their_epoch_and_source_rpm() -> None:
    printed = "rpm\nopenssl-libs\t1\t3.0.7-27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm\n"
    printed += "bash\t(none)\t5.1.8-9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\n"
    packages = parse_packages(printed)
    assert [(p.name, p.epoch) for p in packages] == [("bash", ""), ("openssl-libs", "1")]
    image = replace(facts(), packages=packages, os_release={"ID": "rhel", "VERSION_ID": "9.4"})
    purls = [c["purl"] for c in document(image)["components"] if c["type"] == "library"]
    assert "pkg:rpm/rhel/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1" in purls


@pytest.mark.parametrize("name", ["a\\nb", "plain"])
def test_sha256sum_escaped_names_are_read_back(name: str) -> None:
    escaped = name.replace("\\", "\\\\")
    prefix = "\\" if escaped != name else ""
    (found,) = parse_files(f"{prefix}{'d' * 64}  /app/{escaped}", "")
    assert found.path == f"/app/{name}" and found.sha256 == "d" * 64
