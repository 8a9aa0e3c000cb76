"""A throwaway registry on loopback (Debian's docker-registry), for tests and the bench."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from llama_images.errors import ProjectError
from llama_images.registry import Registry
from llama_images.smoke import free_port

REGISTRY_BINARY = "docker-registry"
CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class LocalRegistry:
    host: str
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                Registry(self.host).ping()
                return
            except ProjectError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise ProjectError("docker-registry did not start on loopback") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@contextlib.contextmanager
def local_registry(workdir: Path) -> Iterator[LocalRegistry]:
    """Serves a registry stored under `workdir` until the block ends."""
    if shutil.which(REGISTRY_BINARY) is None:
        raise ProjectError(
            "docker-registry is missing: apt-get install docker-registry "
            "(.ci/install-host installs it)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "registry.yml"
    port = free_port()
    config.write_text(CONFIG.format(root=workdir / "storage", port=port))
    server = LocalRegistry(f"localhost:{port}", config)
    try:
        server.start()
        yield server
    finally:
        server.stop()
