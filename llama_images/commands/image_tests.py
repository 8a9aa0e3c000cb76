"""`test-local-images`: the image tests, run through `nox -s test_images`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def nox_command(images: list[str], variant: str | None) -> list[str]:
    """The nox command line; images and the variant are handed on to pytest."""
    posargs = [arg for ref in images for arg in ("--image", ref)]
    if variant:
        posargs += ["--variant", variant]
    argv = [sys.executable, "-m", "nox", "-s", "test_images"]
    return [*argv, "--", *posargs] if posargs else argv


def run_image_tests(root: Path, images: list[str], variant: str | None) -> int:
    """Runs the image tests of the checkout at root; returns nox's exit status."""
    return subprocess.run(nox_command(images, variant), cwd=root, check=False).returncode
