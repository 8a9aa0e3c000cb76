"""Where things are in a checkout of this repository, and the facts read from them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llama_images.adapters import gitinfo
from llama_images.adapters.source import Pin, load_pin
from llama_images.model.catalog import Catalog, load_catalog
from llama_images.model.settings import Settings, load_settings
from llama_images.model.version import BuildVersion, CommitFacts, version_for


@dataclass(frozen=True)
class Project:
    root: Path
    settings: Settings

    @classmethod
    def open(cls, start: Path, flags: dict[str, str | None] | None = None) -> Project:
        root = gitinfo.toplevel(start)
        return cls(root=root, settings=load_settings(root, flags))

    def with_settings(self, **changes: str) -> Project:
        """This project with settings changed, each written as in .env (lists comma-separated)."""
        return Project(self.root, self.settings.changed(changes))

    @property
    def base_images(self) -> Path:
        return self.root / "base-images"

    @property
    def devops(self) -> Path:
        return self.root / ".devops"

    def catalog(self) -> Catalog:
        return load_catalog(self.base_images)

    def pin(self) -> Pin:
        return load_pin(self.devops)

    def commit(self) -> CommitFacts:
        return gitinfo.commit_facts(self.root)

    def version(self) -> BuildVersion:
        return version_for(self.commit())

    def source_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The repository's https address for the source labels; '' when none is known."""
        if self.settings.source_url:
            return gitinfo.web_address(self.settings.source_url) or ""
        remote = gitinfo.remote_url(self.root, self.settings.remote)
        if remote and (address := gitinfo.web_address(remote)):
            return address
        return github_actions_address(os.environ if environ is None else environ)


def github_actions_address(environ: Mapping[str, str]) -> str:
    """The repository a GitHub Actions job runs for, or '' outside GitHub Actions."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return ""
    server, repository = environ.get("GITHUB_SERVER_URL"), environ.get("GITHUB_REPOSITORY")
    if not (server and repository):
        return ""
    return gitinfo.web_address(f"{server.rstrip('/')}/{repository}") or ""
