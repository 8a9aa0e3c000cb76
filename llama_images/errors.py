"""The one error type the project raises; its message is shown to users as is."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProjectError(Exception):
    """A failure the user can act on: the message says what went wrong and what to do."""

    def __init__(self, message: str) -> None:
        one_line = " ".join(message.split())
        super().__init__(one_line)
        self.message = one_line


def did_you_mean(text: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' for the choice closest to a mistyped name, else ''."""
    closest = difflib.get_close_matches(text, list(choices), n=1)
    return f" (did you mean {closest[0]}?)" if closest else ""
