"""Tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    body = tabulate(rows, headers=list(headers), tablefmt="simple_outline", disable_numparse=True)
    return f"{title}\n{body}" if title else body


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
