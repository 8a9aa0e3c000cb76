"""Fault tests: real kills of a build and its engine. Opt-in (30 to 60 minutes on 2 cores):
`nox -s faults`, or `pytest -m faults tests/faults`; a plain `pytest` skips them."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: kills a build and its engine (nox -s faults)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: nox -s faults (or pytest -m faults tests/faults)")
    for item in items:
        if item.get_closest_marker("faults"):
            item.add_marker(skip)
