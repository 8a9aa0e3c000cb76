"""The only code that talks to the container engine.

Builds go through Debian's `docker` client with BuildKit (the SDK cannot drive
BuildKit); everything else goes through the Docker SDK. Engine failures become
one ProjectError with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

from llama_images.errors import ProjectError

ENGINE_START_TIMEOUT = 60.0
NO_ENGINE_HELP = (
    "no Docker engine answers: install one (apt-get install docker.io) and start it "
    "(dockerd &), or point DOCKER_HOST at a running engine"
)


HTTP_CONFLICT = 409  # e.g. "image has dependent child images", "being used by running container"


class ImageInUse(ProjectError):
    """The engine refuses to remove an image that other images or containers depend on."""


def _buildkit_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_BUILDKIT": "1"}


def _build_failed(request: BuildRequest, tail: Sequence[str]) -> ProjectError:
    reason = next(
        (t for t in reversed(tail) if "ERROR" in t or "error" in t),
        tail[-1] if tail else "no output",
    )
    return ProjectError(
        f"build of target {request.target} from {request.dockerfile.name} "
        f"({request.platform}) failed: {reason}"
    )


@dataclass
class BackgroundBuild:
    """A build started by Engine.start_build: finish() waits for its image, stop() ends it."""

    request: BuildRequest
    process: subprocess.Popen[bytes]
    log_path: Path
    iidfile: Path
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def finish(self) -> str:
        returncode = self.process.wait()
        # It may have ended long before: its log's last write is when.
        self.seconds = self.log_path.stat().st_mtime - self.started
        tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
        image_id = self.iidfile.read_text().strip() if returncode == 0 else ""
        shutil.rmtree(self.iidfile.parent, ignore_errors=True)
        if returncode != 0:
            raise _build_failed(self.request, tail)
        return image_id

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        shutil.rmtree(self.iidfile.parent, ignore_errors=True)


@dataclass(frozen=True)
class BuildRequest:
    """One `docker build` invocation, fully resolved."""

    dockerfile: Path
    context: Path
    target: str
    platform: str
    build_args: Mapping[str, str]
    labels: Mapping[str, str]
    no_cache: bool = False

    def argv(self, docker_cli: str, iidfile: Path | None = None) -> list[str]:
        argv = [docker_cli, "build", "--progress=plain", "--file", str(self.dockerfile)]
        if self.target:
            argv += ["--target", self.target]
        if self.platform:
            argv += ["--platform", self.platform]
        if self.no_cache:
            argv.append("--no-cache")
        for key, value in self.build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in self.labels.items():
            argv += ["--label", f"{key}={value}"]
        if iidfile is not None:
            argv += ["--iidfile", str(iidfile)]
        argv.append(str(self.context))
        return argv


def device_options(requirement: str) -> dict[str, Any]:
    """Container options that hand a container the devices a variant needs."""
    if requirement == "nvidia-gpu":
        request = docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
        return {"device_requests": [request]}
    if requirement == "amd-gpu":
        # The server user owns no device group: it gets the host's groups of the nodes.
        nodes = [Path("/dev/kfd"), *Path("/dev/dri").glob("renderD*")]
        groups = sorted({node.stat().st_gid for node in nodes})
        return {"devices": ["/dev/kfd", "/dev/dri"], "group_add": [str(g) for g in groups]}
    return {}


def _dockerd_available() -> bool:
    return shutil.which("dockerd") is not None and os.geteuid() == 0


class Engine:
    """A connected container engine."""

    def __init__(self, client: docker.DockerClient, docker_cli: str) -> None:
        self.client = client
        self.docker_cli = docker_cli

    @classmethod
    def connect(
        cls, docker_cli: str = "/usr/bin/docker", start: bool = True, log_dir: Path | None = None
    ) -> Engine:
        """Connects to the engine, starting a local dockerd when none answers and one can be."""
        client = cls._try_client()
        # An engine named by DOCKER_HOST is the user's to run; only a local default is started.
        if client is None and start and "DOCKER_HOST" not in os.environ and _dockerd_available():
            cls._start_dockerd(log_dir or Path(tempfile.gettempdir()))
            deadline = time.monotonic() + ENGINE_START_TIMEOUT
            while client is None and time.monotonic() < deadline:
                time.sleep(1)
                client = cls._try_client()
        if client is None:
            raise ProjectError(NO_ENGINE_HELP)
        if not Path(docker_cli).is_file():
            raise ProjectError(
                f"the docker client {docker_cli} is missing: install Debian's docker.io, "
                "whose client drives BuildKit, or set LLAMA_IMAGES_DOCKER"
            )
        return cls(client, docker_cli)

    @staticmethod
    def _try_client() -> docker.DockerClient | None:
        try:
            client = docker.from_env(timeout=600)
            client.ping()
            return client
        except (docker.errors.DockerException, OSError):
            return None

    @staticmethod
    def _start_dockerd(log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = (log_dir / "dockerd.log").open("ab")
        print(f"starting dockerd (log: {log_dir / 'dockerd.log'})", file=sys.stderr)
        subprocess.Popen(
            ["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )

    # images

    def image_exists(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise ProjectError(f"engine error while looking up {ref}: {exc.explanation}") from None

    def try_pull(self, ref: str) -> bool:
        """Pulls an image; False when no registry serves it."""
        try:
            self.client.images.pull(ref)
            return True
        except (docker.errors.APIError, docker.errors.ImageNotFound):
            return False

    def registry_serves(self, ref: str) -> bool:
        """Whether a registry would serve `ref` to a pull, asked without pulling it."""
        try:
            self.client.images.get_registry_data(ref)
            return True
        except docker.errors.APIError:
            return False

    def image_labels(self, ref: str) -> dict[str, str]:
        return dict(self._image(ref).labels or {})

    def image_config(self, ref: str) -> dict[str, Any]:
        config: dict[str, Any] = self._image(ref).attrs.get("Config") or {}
        return config

    def image_id(self, ref: str) -> str:
        return str(self._image(ref).id)

    def image_tags(self, ref: str) -> list[str]:
        return list(self._image(ref).tags)

    def image_size(self, ref: str) -> int:
        return int(self._image(ref).attrs.get("Size", 0))

    def _image(self, ref: str) -> Any:
        try:
            return self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            raise ProjectError(
                f"image {ref} does not exist: build it with invoke build-local"
            ) from None

    def images_with_label(self, key: str, value: str | None = None) -> list[tuple[str, list[str]]]:
        """(image id, tags) of every image carrying a label."""
        selector = key if value is None else f"{key}={value}"
        found = self.client.images.list(filters={"label": selector})
        return [(str(image.id), list(image.tags)) for image in found]

    def tag(self, image_id: str, ref: str) -> None:
        repository, _, tag = ref.rpartition(":")
        if not self.client.api.tag(image_id, repository, tag, force=True):
            raise ProjectError(f"engine refused to tag {image_id} as {ref}")

    def push(self, ref: str, auth: dict[str, str] | None = None) -> str:
        """Pushes a tag to its registry; returns the manifest digest the registry stored.

        `auth` overrides the credentials the engine client read from the Docker configuration
        when it connected."""
        repository, _, tag = ref.rpartition(":")
        digest = ""
        try:
            for chunk in self.client.images.push(
                repository, tag, stream=True, decode=True, auth_config=auth
            ):
                if "error" in chunk:
                    raise ProjectError(f"push of {ref} failed: {chunk['error']}")
                digest = chunk.get("aux", {}).get("Digest", digest)
        except docker.errors.APIError as exc:
            raise ProjectError(f"push of {ref} failed: {exc.explanation}") from None
        if not digest:
            raise ProjectError(f"push of {ref} reported no digest")
        return str(digest)

    def pull(self, ref: str, auth: dict[str, str] | None = None, platform: str = "") -> str:
        """Pulls an image (a tag or repo@digest), of `platform` when named; returns the local
        image id."""
        try:
            image = self.client.images.pull(ref, auth_config=auth, platform=platform or None)
        except docker.errors.APIError as exc:
            raise ProjectError(f"pull of {ref} failed: {exc.explanation}") from None
        return str(image.id)

    def untag(self, ref: str) -> None:
        """Removes one reference; the image stays while another tag names it."""
        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.remove(ref, force=False, noprune=False)

    def remove_image(self, ref: str) -> None:
        """Removes a tag or an image; ImageInUse when the engine must keep it."""
        try:
            self.client.images.remove(ref, force=True, noprune=False)
        except docker.errors.ImageNotFound:
            return
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc)
            if exc.status_code == HTTP_CONFLICT:
                raise ImageInUse(reason) from None
            raise ProjectError(f"engine could not remove {ref}: {reason}") from None

    def build(
        self, request: BuildRequest, log: IO[str], on_line: Callable[[str], object] | None = None
    ) -> str:
        """Runs one BuildKit build, streaming its output (each line also to `on_line`);
        returns the image id."""
        with tempfile.TemporaryDirectory(prefix="llama-images-iid-") as tmp:
            iidfile = Path(tmp) / "iid"
            with subprocess.Popen(
                request.argv(self.docker_cli, iidfile),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",  # a compiler's odd byte must not end a build
                env=_buildkit_env(),
                bufsize=1,
            ) as proc:
                assert proc.stdout is not None
                tail: list[str] = []
                for line in proc.stdout:
                    log.write(line)
                    sys.stdout.write(line)
                    if on_line is not None:
                        on_line(line)
                    tail = [*tail[-19:], line.rstrip()]
            if proc.returncode != 0:
                raise _build_failed(request, tail)
            return iidfile.read_text().strip()

    def start_build(self, request: BuildRequest, log_path: Path) -> BackgroundBuild:
        """Starts one BuildKit build beside the caller's work, its output only in its log."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        iidfile = Path(tempfile.mkdtemp(prefix="llama-images-iid-")) / "iid"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                request.argv(self.docker_cli, iidfile),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_buildkit_env(),
            )
        return BackgroundBuild(request, process, log_path, iidfile)

    def prune_build_cache(self) -> None:
        """Forgets every build cache entry, cache mounts (ccache) included: a fresh runner."""
        done = subprocess.run(
            [self.docker_cli, "builder", "prune", "-af"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ProjectError(f"docker builder prune failed: {done.stderr.strip()}")

    def import_rootfs(
        self, rootfs: Path, ref: str, changes: Sequence[str], platform: str = ""
    ) -> None:
        """Imports a root file system folder as an image; as one of `platform`, when named.

        `docker import --platform` records the host's platform on this engine, so a foreign
        one is built instead: FROM scratch, the tree added, the changes as instructions.
        """
        if platform:
            self._import_for_platform(rootfs, ref, changes, platform)
            return
        argv = [self.docker_cli, "import"]
        for change in changes:
            argv += ["--change", change]
        argv += ["-", ref]
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            done = subprocess.run(
                argv, stdin=tar.stdout, capture_output=True, text=True, check=False
            )
        if tar.returncode != 0 or done.returncode != 0:
            raise ProjectError(f"docker import of {rootfs} as {ref} failed: {done.stderr.strip()}")

    def _import_for_platform(
        self, rootfs: Path, ref: str, changes: Sequence[str], platform: str
    ) -> None:
        with tempfile.TemporaryDirectory(dir=rootfs.parent, prefix="import-") as tmp:
            context = Path(tmp)
            tar = subprocess.run(
                ["tar", "-C", str(rootfs), "-cf", str(context / "rootfs.tar"), "."],
                capture_output=True,
                text=True,
                check=False,
            )
            if tar.returncode != 0:
                raise ProjectError(f"cannot archive {rootfs}: {tar.stderr.strip()}")
            (context / "Dockerfile").write_text(
                "\n".join(["FROM scratch", "ADD rootfs.tar /", *changes]) + "\n"
            )
            done = subprocess.run(
                [self.docker_cli, "build", "--platform", platform, "-t", ref, str(context)],
                capture_output=True,
                text=True,
                env={**os.environ, "DOCKER_BUILDKIT": "1"},
                check=False,
            )
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise ProjectError(f"making {ref} ({platform}) from {rootfs} failed: {detail[0]}")

    def export_path(self, image: str, path: str, dest: Path) -> Path:
        """Copies a folder out of an image (without running it) into `dest`."""
        created = self.client.containers.create(image, command=["true"])
        try:
            stream, _ = created.get_archive(path)
            with tempfile.TemporaryFile() as buffer:
                for chunk in stream:
                    buffer.write(chunk)
                buffer.seek(0)
                with tarfile.open(fileobj=buffer) as tar:
                    tar.extractall(dest, filter="tar")
        except docker.errors.NotFound:
            raise ProjectError(f"{path} does not exist in {image}") from None
        finally:
            created.remove(force=True)
        return dest / Path(path).name

    # containers

    @contextlib.contextmanager
    def container(self, image: str, **options: Any) -> Iterator[Container]:
        """A detached container that is always removed, whatever happens inside."""
        try:
            created = self.client.containers.run(image, detach=True, **options)
        except docker.errors.ImageNotFound:
            raise ProjectError(f"image {image} does not exist") from None
        except docker.errors.APIError as exc:
            raise ProjectError(f"engine could not start {image}: {exc.explanation}") from None
        try:
            yield created
        finally:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                created.remove(force=True, v=True)

    def container_logs(self, container: Container) -> str:
        return str(container.logs(stdout=True, stderr=True).decode(errors="replace"))

    def container_state(self, container: Container) -> dict[str, Any]:
        """The container's State (Status, Health, ExitCode...), read afresh."""
        container.reload()
        state: dict[str, Any] = container.attrs.get("State", {})
        return state

    def exec_in(self, container: Container, argv: Sequence[str]) -> tuple[int, str]:
        """Runs a command in a running container: its exit code and combined output."""
        code, output = container.exec_run(list(argv))
        return int(code), bytes(output).decode(errors="replace")

    def processes(self, container: Container, columns: str) -> list[list[str]]:
        """`docker top` with `ps -o pid,<columns>`: one row of column values per process."""
        return [list(row) for row in container.top(ps_args=f"-o pid,{columns}")["Processes"]]

    def stop(self, container: Container, timeout: int) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds, as `docker stop` does."""
        container.stop(timeout=timeout)

    def wait(self, container: Container, timeout: float) -> int:
        result = container.wait(timeout=timeout)
        return int(result.get("StatusCode", -1))

    @contextlib.contextmanager
    def volume(self) -> Iterator[str]:
        """A fresh named volume (its name), always removed."""
        try:
            created = self.client.volumes.create()
        except docker.errors.APIError as exc:
            raise ProjectError(f"engine could not create a volume: {exc.explanation}") from None
        try:
            yield str(created.name)
        finally:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                created.remove(force=True)

    def run(self, image: str, command: Sequence[str], **options: Any) -> tuple[int, str]:
        """Runs a command to completion; returns its exit code and combined output."""
        with self.container(image, command=list(command), **options) as created:
            result = created.wait(timeout=600)
            output = created.logs(stdout=True, stderr=True).decode(errors="replace")
            return int(result.get("StatusCode", -1)), output
