"""What every task shares: one-line errors, Ctrl-C, and hints in invoke's parser errors."""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from invoke.exceptions import Exit, ParseError
from invoke.parser.parser import ParseMachine

from llama_images.errors import ProjectError

F = TypeVar("F", bound=Callable[..., Any])
FILE_SYSTEM_FULL = (errno.ENOSPC, errno.EDQUOT)
INTERRUPTED = 130  # the shell's code for a command stopped by SIGINT
_UNKNOWN_TOKEN = re.compile(r"No idea what '(?P<token>.+)' is!")


def shows_errors(function: F) -> F:
    """Turns a ProjectError or Ctrl-C into a one-line message and a non-zero exit."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ProjectError as exc:
            raise Exit(f"error: {exc.message}", code=1) from None
        except OSError as exc:
            if exc.errno not in FILE_SYSTEM_FULL:
                raise
            raise Exit(f"error: {file_system_full(exc)}", code=1) from None
        except KeyboardInterrupt:
            raise Exit("error: interrupted (Ctrl-C)", code=INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def exit_with(code: int) -> None:
    """Ends the task with this exit status, adding no message, unless it is 0."""
    if code:
        raise Exit(code=code)


def file_system_full(exc: OSError) -> str:
    """The one line for a write that found no space: where, and what to do."""
    where = f" writing {exc.filename}" if exc.filename else ""
    return (
        f"no space left on the file system{where}: free some, or set LLAMA_IMAGES_CACHE_DIR "
        "to a folder on a file system with room"
    )


def closest_hint(token: str, names: Iterable[str]) -> str:
    """' Did you mean X?' for the known name closest to a mistyped one, else ''."""
    closest = difflib.get_close_matches(token, list(names), n=1)
    return f" Did you mean {closest[0]}?" if closest else ""


def _flag_hint(token: str, machine: Any) -> str:
    if machine.context is machine.initial:
        owners = sorted(name for name, ctx in machine.contexts.items() if token in ctx.flags)
        if owners:
            return f" Task flags follow the task's name, e.g. invoke {owners[0]} {token} ..."
    flags = [flag for flag in machine.context.flags if flag.startswith("--")]
    return closest_hint(token, flags)


def _parse_error_with_hint(machine: Any, message: str) -> None:
    unknown = _UNKNOWN_TOKEN.fullmatch(message)
    if unknown and unknown["token"].startswith("--"):
        message += _flag_hint(unknown["token"], machine)
    elif unknown and not unknown["token"].startswith("-"):
        message += closest_hint(unknown["token"], machine.contexts)
    raise ParseError(message, machine.context)


def add_parser_hints() -> None:
    """invoke prints its parser's errors itself and offers no hook to add to them; the `invoke`
    users run is its own Program, so the hint goes into the parser (invoke is pinned to 3.0.3)."""
    ParseMachine.error = _parse_error_with_hint  # type: ignore[method-assign,assignment]
