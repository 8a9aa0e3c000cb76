"""Helpers the image tests share: test modules import them from here, never from each other."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
