"""Whether this host runs another platform's programs: a binfmt_misc handler (QEMU) for it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_MACHINES = {"linux/arm64": "aarch64", "linux/s390x": "s390x", "linux/amd64": "x86_64"}
HOW_TO_REGISTER = (
    "apt-get install qemu-user-static binfmt-support (or run "
    "`docker run --privileged --rm tonistiigi/binfmt --install all`)"
)


def emulation_missing(platform: str, binfmt: Path = BINFMT) -> str:
    """'' when this host runs `platform`'s programs, else why not and what to do.

    Handlers registered with the F (fix-binary) flag keep working inside containers, which
    is how Debian's qemu-user-static and tonistiigi/binfmt register them.
    """
    machine = QEMU_MACHINES.get(platform, platform.rsplit("/", 1)[-1])
    handler = binfmt / f"qemu-{machine}"
    try:
        text = handler.read_text()
    except OSError:
        return f"no binfmt handler runs {platform} programs here: {HOW_TO_REGISTER}"
    if not text.startswith("enabled"):
        return f"the binfmt handler {handler} is disabled: update-binfmts --enable qemu-{machine}"
    flags = next((line.split()[1] for line in text.splitlines() if line.startswith("flags:")), "")
    if "F" not in flags:
        return (
            f"the binfmt handler {handler} lacks the F flag, so containers cannot use it: "
            f"{HOW_TO_REGISTER}"
        )
    return ""


def register_emulation(platform: str, binfmt: Path = BINFMT) -> str:
    """Registers Debian's QEMU handler for `platform` where it is installed but not registered
    (binfmt_misc unmounted, or the handler disabled); then '' or why `platform` cannot run."""
    missing = emulation_missing(platform, binfmt)
    if not missing or shutil.which("update-binfmts") is None or os.geteuid() != 0:
        return missing
    if not (binfmt / "register").exists():
        subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)],
            capture_output=True,
            check=False,
        )
    machine = QEMU_MACHINES.get(platform, platform.rsplit("/", 1)[-1])
    handler = binfmt / f"qemu-{machine}"
    if handler.exists():
        # Registered but disabled: update-binfmts takes it as enabled and leaves it so.
        with contextlib.suppress(OSError):
            handler.write_text("1")
    else:
        subprocess.run(
            ["update-binfmts", "--enable", f"qemu-{machine}"], capture_output=True, check=False
        )
    return emulation_missing(platform, binfmt)
