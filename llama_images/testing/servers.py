"""The server harness: runs llama-server images and talks to them over HTTP."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from docker.models.containers import Container

from llama_images.adapters.engine import Engine
from llama_images.adapters.engine import device_options as engine_device_options
from llama_images.errors import ProjectError
from llama_images.model.catalog import Smoke
from llama_images.model.metadata import CORE_TARGET, OCI, project_label
from llama_images.testing.tinymodel import MODEL_NAME

MODEL_MOUNT = "/models"
CACHE_MOUNT = "/var/cache/llama.cpp"
"""The server target's LLAMA_CACHE: downloaded models, and a Mesa driver's compiled shaders."""
HEALTHY_TIMEOUT = 180.0


class ServerFailed(ProjectError):
    """The server container stopped or never became healthy; the message holds the reason."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class ImageUnderTest:
    ref: str
    variant: str
    target: str
    version: str
    triple: str
    labels: Mapping[str, str]

    @property
    def platform(self) -> str:
        return self.labels.get(project_label("platform"), "")

    @property
    def folder(self) -> str:
        return f"/app/bin/{self.triple}/{self.variant}"

    @property
    def server_path(self) -> str:
        return f"{self.folder}/llama-server"

    @classmethod
    def inspect(cls, engine: Engine, ref: str) -> ImageUnderTest:
        labels = engine.image_labels(ref)
        missing = [k for k in ("variant", "target", "triple") if project_label(k) not in labels]
        if missing:
            raise ProjectError(f"{ref} is not an image of this project (no {missing[0]} label)")
        return cls(
            ref=ref,
            variant=labels[project_label("variant")],
            target=labels[project_label("target")],
            version=labels.get(f"{OCI}.version", ""),
            triple=labels[project_label("triple")],
            labels=labels,
        )


def images_for_version(engine: Engine, version: str) -> list[ImageUnderTest]:
    """Every image this project built for a version, one per image id."""
    found: dict[str, ImageUnderTest] = {}
    for image_id, tags in engine.images_with_label(f"{OCI}.version", version):
        # Untagged images are leftovers of earlier builds of the same version.
        labels = engine.image_labels(image_id) if tags else {}
        if project_label("variant") in labels and labels[project_label("target")] != CORE_TARGET:
            found[image_id] = ImageUnderTest.inspect(engine, sorted(tags)[0])
    return sorted(found.values(), key=lambda i: (i.variant, i.target, i.ref))


def host_can_run(requirement: str) -> str:
    """'' when this host meets a variant's requirement, else why not."""
    if not requirement:
        return ""
    if requirement == "nvidia-gpu":
        if not Path("/dev/nvidiactl").exists():
            return "needs an NVIDIA GPU and driver, which this host lacks"
        return ""
    if requirement == "amd-gpu":
        if not Path("/dev/kfd").exists():
            return "needs an AMD GPU and the amdgpu kernel driver (/dev/kfd), which this host lacks"
        return ""
    if requirement == "big-endian-model":
        return "reads big-endian models only, and the image tests' tiny model is little-endian"
    return f"unknown requirement {requirement!r}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningServer:
    """A started server container, reachable on a free loopback port."""

    engine: Engine
    container: Container
    host_port: int
    started: float
    time_to_healthy: float | None = None
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=120.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    def logs(self) -> str:
        return self.engine.container_logs(self.container)

    def state(self) -> dict[str, Any]:
        return self.engine.container_state(self.container)

    def processes(self, columns: str) -> list[list[str]]:
        """The container's processes: pid and `columns` (ps -o names) per row."""
        return self.engine.processes(self.container, columns)

    def stop(self, timeout: int = 60) -> None:
        self.engine.stop(self.container, timeout)

    def health(self) -> str:
        return str(self.state().get("Health", {}).get("Status", "none"))

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT) -> float:
        """Waits for the image's own HEALTHCHECK to report healthy; returns the seconds taken."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state.get("Status") in ("exited", "dead"):
                raise ServerFailed(
                    f"server exited with code {state.get('ExitCode')} before it was healthy: "
                    f"{last_error_line(self.logs())}",
                    self.logs(),
                )
            status = state.get("Health", {}).get("Status")
            if status == "healthy":
                self.time_to_healthy = time.monotonic() - self.started
                return self.time_to_healthy
            if status == "unhealthy":
                probes = state.get("Health", {}).get("Log", [])
                detail = probes[-1].get("Output", "").strip() if probes else "no probe output"
                raise ServerFailed(f"HEALTHCHECK reports unhealthy: {detail}", self.logs())
            time.sleep(0.5)
        raise ServerFailed(f"server not healthy after {timeout:.0f} s", self.logs())

    def wait_ready(self, timeout: float = HEALTHY_TIMEOUT) -> float:
        """Waits for GET /health to answer 200 (any HEALTHCHECK aside); returns the seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.client.get("/health").status_code == 200:
                    return time.monotonic() - self.started
            except httpx.TransportError:
                pass
            if self.state().get("Status") in ("exited", "dead"):
                raise ServerFailed(
                    f"server exited before it answered: {last_error_line(self.logs())}", self.logs()
                )
            time.sleep(0.1)
        raise ServerFailed(f"server did not answer /health within {timeout:.0f} s", self.logs())

    def mapped_libraries(self, pid: int = 1) -> list[str]:
        """Paths of the shared objects a process in the container has loaded."""
        code, output = self.engine.exec_in(self.container, ["cat", f"/proc/{pid}/maps"])
        if code != 0:
            raise ProjectError(f"cannot read /proc/{pid}/maps: {output}")
        paths = {
            line.split()[-1]
            for line in output.splitlines()
            if line.split() and ".so" in line.split()[-1]
        }
        return sorted(paths)

    def resident_bytes(self, pid: int = 1) -> int:
        """Resident memory (VmRSS) of a process in the container, in bytes."""
        code, text = self.engine.exec_in(self.container, ["cat", f"/proc/{pid}/status"])
        for line in text.splitlines() if code == 0 else []:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ProjectError(f"no VmRSS in /proc/{pid}/status: {text[:300]}")

    def wait_exit(self, timeout: float = 120.0) -> int:
        return self.engine.wait(self.container, timeout)

    def post(self, path: str, document: Mapping[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=document)
        response.raise_for_status()
        parsed: dict[str, Any] = response.json()
        return parsed

    def stream(self, path: str, document: Mapping[str, Any]) -> Iterator[tuple[float, Any]]:
        """Server-sent events of a streamed request: (seconds since the request, data)."""
        started = time.monotonic()
        with self.client.stream("POST", path, json=document) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                payload = line.removeprefix("data: ")
                if payload == "[DONE]":
                    return
                yield time.monotonic() - started, json.loads(payload)


def last_error_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if any(word in lowered for word in ("error", "failed", "unable", "no such file")):
            return line
    return lines[-1] if lines else "(empty log)"


@contextlib.contextmanager
def run_server(
    engine: Engine,
    image: str,
    model_dir: Path,
    args: Sequence[str] = (),
    environment: Mapping[str, str] | None = None,
    container_port: int = 8080,
    user: str | None = None,
    requires: str = "",
    run_options: Mapping[str, Any] | None = None,
    cache_volume: str | None = None,
) -> Iterator[RunningServer]:
    """Starts a server with the model folder mounted read-only; always removes it.

    `run_options`: further engine options (read_only, cap_drop, tmpfs, ...); `cache_volume`:
    a named volume mounted at CACHE_MOUNT.
    """
    host_port = free_port()
    options: dict[str, Any] = {
        "command": list(args),
        "environment": dict(environment or {}),
        "ports": {f"{container_port}/tcp": ("127.0.0.1", host_port)},
        "volumes": {str(model_dir): {"bind": MODEL_MOUNT, "mode": "ro"}},
    }
    if cache_volume is not None:
        options["volumes"][cache_volume] = {"bind": CACHE_MOUNT, "mode": "rw"}
    if user is not None:
        options["user"] = user
    options.update(engine_device_options(requires))
    options.update(run_options or {})
    with engine.container(image, **options) as container:
        server = RunningServer(engine, container, host_port, time.monotonic())
        try:
            yield server
        finally:
            server.client.close()


def serve_variant(
    engine: Engine,
    image: str,
    model_dir: Path,
    smoke: Smoke,
    args: Sequence[str] | None,
    environment: Mapping[str, str] | None = None,
    **options: Any,
) -> contextlib.AbstractContextManager[RunningServer]:
    """A server of an image, run the way its variant needs (device, environment, args).

    args None: configured by the environment alone, with no argument at all; `options`
    go to run_server (container_port, user, run_options).
    """
    return run_server(
        engine,
        image,
        model_dir,
        args=[] if args is None else [*args, *smoke.args],
        environment={**smoke.environment, **(environment or {})},
        requires=smoke.requires,
        **options,
    )


def seeded_completion(prompt: str, n_predict: int, seed: int = 7) -> dict[str, Any]:
    """A greedy, seeded /completion request: the tiny model's noise is the same every run,
    so a reply the server cannot parse fails every run, not one in many."""
    return {"prompt": prompt, "n_predict": n_predict, "temperature": 0, "seed": seed}


def seeded_chat(prompt: str, seed: int, max_tokens: int = 16) -> dict[str, Any]:
    """A greedy, seeded chat request for the tiny model: its reply (noise) is repeatable, so
    a request that fails on what was generated fails the same way when rerun."""
    return {
        "model": MODEL_NAME,
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": seed,
        "messages": [{"role": "user", "content": prompt}],
    }
