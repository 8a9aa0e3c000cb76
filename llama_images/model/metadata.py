"""Image metadata: one record, rendered as OCI labels and as `/app/version.json`.

The schema of version.json is documented in docs/version-json.md; bump
SCHEMA_VERSION whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_images.model.version import BuildVersion, CommitFacts

SCHEMA_VERSION = 1
LABEL_NAMESPACE = "org.llama-images"
OCI = "org.opencontainers.image"
LICENSE = "MIT"
VERSION_JSON_PATH = "/app/version.json"
# The cpu variant's intermediate image that composed variants read: never
# published, never tested as an image of its own.
CORE_TARGET = "core"
# A composed recipe's stage that compiles its module and needs no core: `build-local`
# builds it beside the core.
MODULE_TARGET = "module"


# The oldest host driver each CUDA major version runs on without the
# datacenter forward-compatibility package.
CUDA_MIN_DRIVER = {12: 525, 13: 580}


def min_driver(toolkit: str, version: str) -> str:
    """The minimum host driver a toolkit version needs ('' when it needs none)."""
    if toolkit != "cuda" or not version:
        return ""
    major = int(version.split(".")[0])
    if major not in CUDA_MIN_DRIVER:
        raise ValueError(f"no known minimum driver for CUDA {version}")
    return str(CUDA_MIN_DRIVER[major])


def project_label(name: str) -> str:
    return f"{LABEL_NAMESPACE}.{name}"


@dataclass(frozen=True)
class ImageRecord:
    """Everything an image says about itself."""

    version: BuildVersion
    commit: CommitFacts
    variant: str
    platform: str
    triple: str
    description: str
    source_url: str
    base_profile: str
    build_base: str
    runtime_base: str
    toolchain: str
    toolkit_name: str
    toolkit_version: str
    llama_tag: str
    llama_commit: str
    llama_build_number: int
    llama_source: str
    # "cpu": the cpu variant's core plus this variant's module; "own": the same
    # core built on this variant's base; "single": one build compiles everything.
    core: str = "single"

    def version_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "version": str(self.version),
            "commit": self.commit.sha,
            "timestamp": self.commit.timestamp,
            "created": self.commit.created,
            "branch": self.commit.branch,
            "dirty": self.commit.dirty,
            "variant": self.variant,
            "platform": self.platform,
            "triple": self.triple,
            "server": f"/app/bin/{self.triple}/{self.variant}/llama-server",
            "base": {
                "profile": self.base_profile,
                "build": self.build_base,
                "runtime": self.runtime_base,
            },
            "toolkit": {
                "compiler": self.toolchain,
                "name": self.toolkit_name,
                "version": self.toolkit_version,
                "min_driver": min_driver(self.toolkit_name, self.toolkit_version),
            },
            "core": self.core,
            "llama_cpp": {
                "tag": self.llama_tag,
                "commit": self.llama_commit,
                "build_number": self.llama_build_number,
                "source": self.llama_source,
            },
        }

    def labels(self, target: str) -> dict[str, str]:
        return {
            f"{OCI}.created": self.commit.created,
            f"{OCI}.version": str(self.version),
            f"{OCI}.revision": self.commit.sha,
            f"{OCI}.title": f"llama-server ({self.variant}, {target})",
            f"{OCI}.description": self.description,
            f"{OCI}.source": self.source_url,
            f"{OCI}.url": self.source_url,
            f"{OCI}.licenses": LICENSE,
            f"{OCI}.base.name": self.runtime_base,
            project_label("schema-version"): str(SCHEMA_VERSION),
            project_label("target"): target,
            project_label("variant"): self.variant,
            project_label("platform"): self.platform,
            project_label("triple"): self.triple,
            project_label("timestamp"): str(self.commit.timestamp),
            project_label("branch"): self.commit.branch or "",
            project_label("dirty"): str(self.commit.dirty).lower(),
            project_label("base-profile"): self.base_profile,
            project_label("toolkit.compiler"): self.toolchain,
            project_label("toolkit.name"): self.toolkit_name,
            project_label("toolkit.version"): self.toolkit_version,
            project_label("toolkit.min-driver"): min_driver(
                self.toolkit_name, self.toolkit_version
            ),
            project_label("llama-cpp.tag"): self.llama_tag,
            project_label("llama-cpp.commit"): self.llama_commit,
            project_label("llama-cpp.build-number"): str(self.llama_build_number),
            project_label("llama-cpp.source"): self.llama_source,
            project_label("core"): self.core,
        }


# Which version.json field each label mirrors; the image tests check they agree.
LABEL_TO_JSON: dict[str, tuple[str, ...]] = {
    f"{OCI}.created": ("created",),
    f"{OCI}.version": ("version",),
    f"{OCI}.revision": ("commit",),
    f"{OCI}.base.name": ("base", "runtime"),
    project_label("variant"): ("variant",),
    project_label("platform"): ("platform",),
    project_label("triple"): ("triple",),
    project_label("timestamp"): ("timestamp",),
    project_label("branch"): ("branch",),
    project_label("dirty"): ("dirty",),
    project_label("base-profile"): ("base", "profile"),
    project_label("toolkit.compiler"): ("toolkit", "compiler"),
    project_label("toolkit.name"): ("toolkit", "name"),
    project_label("toolkit.version"): ("toolkit", "version"),
    project_label("toolkit.min-driver"): ("toolkit", "min_driver"),
    project_label("llama-cpp.tag"): ("llama_cpp", "tag"),
    project_label("llama-cpp.commit"): ("llama_cpp", "commit"),
    project_label("llama-cpp.build-number"): ("llama_cpp", "build_number"),
    project_label("llama-cpp.source"): ("llama_cpp", "source"),
    project_label("core"): ("core",),
}


def label_text(value: Any) -> str:
    """How a version.json value reads as a label."""
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Writes JSON so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; images copy the mode in
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
