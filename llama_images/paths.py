"""Paths the user gives, with `~` and `~user` expanded."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from llama_images.errors import ProjectError


def user_path(text: str, what: str) -> Path:
    """`text` as a path, `~` expanded; a `~name` naming no user is a ProjectError."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        user = text.split("/", 1)[0]
        if user == "~":
            raise ProjectError(f"{what} {text!r} starts with ~, but HOME is not set") from None
        raise ProjectError(
            f"{what} {text!r} starts with {user}, but there is no user {user[1:]!r}: "
            "use an absolute path or ~/ for your home"
        ) from None


def output_file(text: str, what: str) -> Path:
    """A file the task will write: its folder must exist and take a new file, checked first."""
    path = user_path(text, what)
    folder = path.parent
    if path.is_dir():
        raise ProjectError(f"{what} {path} is a folder: name a file in it")
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{what} {path}: {folder} is not a folder")
    if not folder.is_dir():
        raise ProjectError(f"{what} {path}: folder {folder} does not exist: create it first")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}."):
            pass
    except OSError as exc:
        raise ProjectError(
            f"{what} {path}: folder {folder} is not writable ({exc.strerror})"
        ) from None
    return path


def read_utf8(path: Path) -> str:
    """A text file's contents; unreadable or not UTF-8 is a ProjectError naming the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        utf16 = " (it is UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ProjectError(f"{path} line {line} is not UTF-8{utf16}: save it as UTF-8") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the whole new one; an interrupted write leaves no part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a file the user asked for is readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def link_or_copy(source: str | Path, copy: str | Path) -> None:
    """`copy` becomes a hard link to `source` where the file system allows, else a copy."""
    try:
        os.link(source, copy)
    except OSError:
        shutil.copy2(source, copy)
