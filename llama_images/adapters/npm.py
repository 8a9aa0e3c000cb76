"""npm on the host: fetches the web UI's packages once per lock file, into npm's own cache.

Builds run offline (`npm ci --offline` in the recipes' `web` stage) from a copy of this
cache; npm checks every package against the integrity hash package-lock.json pins, when
it is fetched here and again when it is installed in the build.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from llama_images.errors import ProjectError
from llama_images.paths import link_or_copy

UI_FOLDER = Path("tools") / "ui"
MANIFESTS = ("package.json", "package-lock.json")
DONE_MARKER = ".fetched"


def lock_key(source_tree: Path) -> str:
    """A digest of the web UI's package.json and package-lock.json."""
    digest = hashlib.sha256()
    for name in MANIFESTS:
        path = source_tree / UI_FOLDER / name
        if not path.is_file():
            raise ProjectError(f"{path} is missing: the llama.cpp source has no web UI to build")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def forget_ui_packages(source_tree: Path, cache: Path) -> None:
    """Drops the fetched packages of this lock file: the next build fetches them again."""
    shutil.rmtree(cache / "npm" / lock_key(source_tree), ignore_errors=True)


def ui_package_cache(source_tree: Path, cache: Path) -> Path:
    """npm's cache holding every package the web UI's lock file names, fetched if need be."""
    key = lock_key(source_tree)
    entry = cache / "npm" / key
    if (entry / DONE_MARKER).is_file():
        return entry / "cache"
    npm = shutil.which("npm")
    if npm is None:
        raise ProjectError(
            "npm is missing, which fetches the web UI's packages: run ./.ci/install-host"
        )
    shutil.rmtree(entry, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="llama-images-ui-") as work:
        for name in MANIFESTS:
            shutil.copy2(source_tree / UI_FOLDER / name, Path(work) / name)
        done = subprocess.run(
            [
                npm,
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--cache",
                str(entry / "cache"),
            ],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        shutil.rmtree(entry, ignore_errors=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ProjectError(
            f"npm could not fetch the web UI's packages: {lines[-1] if lines else 'no output'}"
        )
    (entry / DONE_MARKER).write_text(key + "\n")
    return entry / "cache"


def link_tree(source: Path, copy: Path) -> None:
    """`copy` becomes a copy of `source` made of hard links where the file system allows."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, copy_function=link_or_copy)
