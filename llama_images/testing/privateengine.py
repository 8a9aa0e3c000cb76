"""A Docker engine of a test's own, which it may SIGKILL and restart without touching the
engine others share: its own data root, exec root, pid file, socket and bridge.

dockerd runs with --iptables=false: started with iptables on, it would rebuild the shared
DOCKER chains. Build steps still reach the network (apt, in the toolchain stages) through
the few forwarding rules added here for its bridge alone, and removed when it ends.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from llama_images.adapters.engine import Engine
from llama_images.errors import ProjectError

DOCKERD = "dockerd"
START_TIMEOUT = 60.0
# Candidate subnets for the bridge; the first one no host interface uses is taken.
SUBNETS = tuple(ipaddress.IPv4Network(f"10.213.{n}.0/24") for n in range(17, 33))
CCACHE_RESULT_SUFFIX = "R"  # ccache 4 names each cached compilation result <hash>R


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _must(*argv: str) -> None:
    done = _run(*argv)
    if done.returncode != 0:
        raise ProjectError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _used_networks() -> list[ipaddress.IPv4Network]:
    listed = json.loads(_run("ip", "-j", "addr").stdout or "[]")
    return [
        ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
        for link in listed
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]


def free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    for subnet in SUBNETS:
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise ProjectError(f"no free subnet among {SUBNETS[0]}..{SUBNETS[-1]} for the test's bridge")


def _forwarding_rules(bridge: str, subnet: ipaddress.IPv4Network) -> list[list[str]]:
    """The iptables rules (table, chain, then the rule) that let the bridge reach out."""
    replies = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]
    return [
        ["filter", "FORWARD", "-i", bridge, "-j", "ACCEPT"],
        ["filter", "FORWARD", "-o", bridge, *replies, "-j", "ACCEPT"],
        ["nat", "POSTROUTING", "-s", str(subnet), "!", "-o", bridge, "-j", "MASQUERADE"],
    ]


@contextlib.contextmanager
def private_bridge(bridge: str) -> Iterator[ipaddress.IPv4Network]:
    """A bridge with a free subnet, forwarded and masqueraded, removed when the block ends."""
    subnet = free_subnet()
    rules = _forwarding_rules(bridge, subnet)
    try:
        _must("ip", "link", "add", "name", bridge, "type", "bridge")
        _must("ip", "addr", "add", f"{subnet[1]}/{subnet.prefixlen}", "dev", bridge)
        _must("ip", "link", "set", bridge, "up")
        for table, chain, *spec in rules:
            _must("iptables", "-t", table, "-I", chain, "1", *spec)
        yield subnet
    finally:
        for table, chain, *spec in rules:
            while _run("iptables", "-t", table, "-D", chain, *spec).returncode == 0:
                pass
        _remove_bridge(bridge)


def _remove_bridge(bridge: str) -> None:
    if Path(f"/sys/class/net/{bridge}").exists():
        _must("ip", "link", "delete", bridge)


def _wait_gone(pid: int, seconds: float = 30.0) -> None:
    """Until `pid` is no process at all, not even one waiting to be reaped."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise ProjectError(f"process {pid} outlived SIGKILL for {seconds:.0f} s")


def _mounts_under(root: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    inside = [p for p in points if p == str(root) or p.startswith(f"{root}/")]
    return sorted(set(inside), key=len, reverse=True)


def ccache_results(data_root: Path) -> int:
    """Compilation results in the engine's ccache cache mounts (found by ccache's
    CACHEDIR.TAG in its first-level folders), read from the host."""
    count = 0
    for diff in data_root.glob("overlay2/*/diff"):
        if any((diff / level / "CACHEDIR.TAG").is_file() for level in "0123456789abcdef"):
            count += sum(
                name.endswith(CCACHE_RESULT_SUFFIX)
                for _, _, names in os.walk(diff)
                for name in names
            )
    return count


@dataclass
class PrivateEngine:
    """dockerd and its containerd on a data root of their own; killed and started at will."""

    data_root: Path
    exec_root: Path
    bridge: str
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"unix://{self.exec_root}/docker.sock"

    def environ(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def engine(self) -> Engine:
        return Engine(docker.DockerClient(base_url=self.host, timeout=600), "/usr/bin/docker")

    def start(self) -> None:
        argv = [
            DOCKERD,
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.exec_root}/dockerd.pid",
            f"--host={self.host}",
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip-masq=false",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                last = self.log.read_text(errors="replace").strip().splitlines()[-1:]
                raise ProjectError(f"the test's dockerd did not start: {last} (log: {self.log})")
            time.sleep(0.5)

    def _answers(self) -> bool:
        try:
            return bool(docker.DockerClient(base_url=self.host, timeout=5).ping())
        except (docker.errors.DockerException, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: dockerd, its containerd, and every build container they leave running."""
        if self.process is None:
            return
        containerd = self.exec_root / "containerd" / "containerd.pid"
        pid = int(containerd.read_text()) if containerd.is_file() else None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            # dockerd takes a pid that still answers for its containerd, and waits for it.
            _wait_gone(pid)
            containerd.unlink(missing_ok=True)
        self._kill_build_containers()

    def _kill_build_containers(self) -> None:
        """BuildKit runs each step with runc (its default state root, which the shared
        engine's builds use too), from a bundle under <data root>/buildkit/executor: a step
        the killed engine left running would compile on, so each of ours is killed."""
        listed = json.loads(_run("runc", "list", "--format", "json").stdout or "null") or []
        ours = f"{self.data_root}/buildkit/"
        for container in listed:
            if str(container.get("bundle", "")).startswith(ours):
                _run("runc", "kill", "--all", container["id"], "KILL")
                _run("runc", "delete", "--force", container["id"])

    def load(self, ref: str, from_docker_cli: str = "/usr/bin/docker") -> None:
        """Copies an image from the engine DOCKER_HOST names (or the default) into this one."""
        with subprocess.Popen([from_docker_cli, "save", ref], stdout=subprocess.PIPE) as save:
            done = subprocess.run(
                [from_docker_cli, "load"],
                stdin=save.stdout,
                capture_output=True,
                text=True,
                env=self.environ(),
                check=False,
            )
        if save.returncode != 0 or done.returncode != 0:
            raise ProjectError(f"docker save {ref} | docker load failed: {done.stderr.strip()}")

    def remove(self) -> None:
        """Kills the engine and removes everything it wrote."""
        self.kill()
        for root in (self.data_root, self.exec_root):
            for point in _mounts_under(root):
                _run("umount", "--lazy", point)
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def private_engine(workdir: Path) -> Iterator[PrivateEngine]:
    """A running private engine under `workdir`, removed with its data when the block ends."""
    if shutil.which(DOCKERD) is None or os.geteuid() != 0:
        raise ProjectError("a private engine needs dockerd (apt-get install docker.io) and root")
    workdir.mkdir(parents=True, exist_ok=True)
    # Short: containerd's sockets live under the exec root, and socket paths are limited.
    exec_root = Path(tempfile.mkdtemp(prefix="lli-engine-"))
    bridge = f"lli-{os.getpid()}"  # one per run: runs side by side never share one
    with private_bridge(bridge):
        engine = PrivateEngine(workdir / "data", exec_root, bridge, workdir / "dockerd.log")
        try:
            engine.start()
            yield engine
        finally:
            engine.remove()
