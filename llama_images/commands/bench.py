"""`nox -s bench`: build cost and image figures, each against a reference from the same run.

One run on one machine, from the pinned source and one base: our cold build
against upstream's recipes built their way, our rebuilds against our cold
build, image sizes against upstream's, and server start-up per image.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llama_images.adapters import gitinfo
from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.adapters.registry import Registry
from llama_images.building.builder import BuiltImage, build_local, prepare_plan, select
from llama_images.building.builder_images import export_ccache
from llama_images.building.steps import require_engine
from llama_images.errors import ProjectError
from llama_images.model.metadata import write_json_atomically
from llama_images.model.project import Project
from llama_images.model.reference import Repository
from llama_images.model.settings import Settings
from llama_images.model.tags import ImageTag
from llama_images.model.version import BuildVersion
from llama_images.report import human_size, table
from llama_images.testing.localregistry import local_registry
from llama_images.testing.servers import MODEL_MOUNT, run_server
from llama_images.testing.tinymodel import MODEL_NAME, model_folder
from llama_images.testing.upstream_recipes import build_upstream

BENCH_VARIANTS = ("cpu", "vulkan")
PROMPT = "The quick brown fox"


@dataclass
class Figure:
    """One measured figure, its reference from the same run, and the goal for the ratio."""

    name: str
    value: float
    unit: str  # "s" or "bytes"
    reference_name: str = ""
    reference: float | None = None
    goal: str = ""  # e.g. "<= 0.6"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference in (None, 0):
            return None
        assert self.reference is not None
        return self.value / self.reference

    @property
    def met(self) -> str:
        if not self.goal:
            return ""
        operator, limit = self.goal.split()
        measured = self.value if operator == "<s" else self.ratio
        if measured is None:
            return "n/a"
        return "yes" if measured <= float(limit) else "NO"


@dataclass
class BenchResult:
    version: str
    machine: str
    figures: list[Figure] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"==> bench: {render_figure(figure)}", file=sys.stderr)
        return figure

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "machine": self.machine,
            "figures": [{**asdict(f), "ratio": f.ratio, "met": f.met} for f in self.figures],
            "servers": self.servers,
            "failed": self.failed,
        }


def render_value(value: float, unit: str) -> str:
    return human_size(int(value)) if unit == "bytes" else f"{value:.1f} s"


def render_figure(f: Figure) -> str:
    ratio = f"{f.ratio:.3f}x" if f.ratio is not None else ""
    return f"{f.name}: {render_value(f.value, f.unit)} {ratio} {f.note}".strip()


def render(result: BenchResult) -> str:
    rows = [
        [
            f.name,
            render_value(f.value, f.unit),
            f.reference_name,
            render_value(f.reference, f.unit) if f.reference is not None else "",
            f"{f.ratio:.3f}x" if f.ratio is not None else "",
            f.goal.replace("<s", "<").replace("<=", "<=") + ("x" if f.goal[:2] == "<=" else ""),
            f.met,
            f.note,
        ]
        for f in result.figures
    ]
    figures = table(
        ["figure", "ours", "reference", "reference value", "ratio", "goal", "met", "note"],
        rows,
        title=f"bench {result.version} on {result.machine}",
    )
    servers = table(
        ["image", "healthy", "first token", "tokens/s", "completion matches"],
        [
            [
                s["image"],
                f"{s['healthy_s']:.1f} s",
                f"{s['first_token_s']:.2f} s",
                f"{s['tokens_per_s']:.1f}",
                s["matches"],
            ]
            for s in result.servers
        ],
        title="servers (tiny model)",
    )
    return f"{figures}\n{servers}"


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    value = action()
    return time.monotonic() - started, value


def ccache_rate(built: list[BuiltImage]) -> str:
    compiled = [b.ccache for b in built if b.ccache != "cached"]
    return ", ".join(f"{b.variant} {b.target} {b.ccache}" for b in built if b.ccache in compiled)


def new_base(engine: Engine, base: str, workdir: Path) -> str:
    """A new base image, as after a base refresh: one more layer (a changed file).

    A label alone is not enough: BuildKit keys an image by its layers, so a
    relabelled base is answered from the cache.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    dockerfile = workdir / "base.Dockerfile"
    dockerfile.write_text(
        f"FROM {base}\nRUN echo {time.time_ns()} > /etc/llama-images-base-refreshed\n"
    )
    ref = Repository.split(base)[0].at("bench-refreshed")
    with (workdir / "base-build.log").open("w") as log:
        image_id = engine.build(BuildRequest(dockerfile, workdir, "", "", {}, {}), log)
    engine.tag(image_id, ref)
    return ref


def added_bytes(engine: Engine, image: str, base: str) -> int:
    return engine.image_size(image) - engine.image_size(base)


def second_pull_bytes(registry: Registry, first: str, second: str) -> int:
    """Compressed bytes a host that has `first` downloads to get `second`."""

    def layers(ref: str) -> dict[str, int]:
        repository, tag = Repository.split(ref)
        found = registry.manifest(repository.name, tag)
        if found is None:
            raise ProjectError(f"{ref} is not in the bench registry")
        return {layer["digest"]: int(layer["size"]) for layer in found[1]["layers"]}

    have = layers(first)
    return sum(size for digest, size in layers(second).items() if digest not in have)


def measure_server(
    engine: Engine, image: str, model_dir: Path, args: list[str], env: dict[str, str]
) -> dict[str, Any]:
    """Time to a healthy /health, time to the first streamed token, tokens/s, the text."""
    command = ["-m", f"{MODEL_MOUNT}/{MODEL_NAME}", "--port", "8080", *args]
    with run_server(engine, image, model_dir, args=command, environment=env) as server:
        healthy = server.wait_ready()
        request = {"prompt": PROMPT, "n_predict": 32, "temperature": 0, "seed": 1, "stream": True}
        first = 0.0
        pieces: list[str] = []
        timings: dict[str, Any] = {}
        for seconds, event in server.stream("/completion", request):
            if not first and event.get("content"):
                first = seconds
            pieces.append(event.get("content", ""))
            timings = event.get("timings", timings)
        return {
            "image": image,
            "healthy_s": healthy,
            "first_token_s": first,
            "tokens_per_s": float(timings.get("predicted_per_second", 0.0)),
            "text": "".join(pieces),
        }


def rebuild_figure(
    name: str, action: Callable[[], list[BuiltImage]], cold: float, goal: str = ""
) -> Figure:
    seconds, built = timed(action)
    return Figure(
        name,
        seconds,
        "s",
        "our cold build",
        cold,
        goal,
        f"compiled: {ccache_rate(built) or 'nothing'}",
    )


def packaging_edit(project: Project, ours: Project, workdir: Path) -> list[BuiltImage]:
    """Builds from a scratch work tree of HEAD whose packaging scripts were edited."""
    with gitinfo.scratch_worktree(project.root, workdir / "edited") as checkout:
        scripts = checkout / "base-images" / "scripts"
        for script in ("package.sh", "compose.sh"):
            with (scripts / script).open("a") as handle:
                handle.write("# a packaging edit\n")
        return build_local(Project(checkout, ours.settings))


def run_bench(project: Project, workdir: Path, bump_source: str = "") -> BenchResult:
    """Every figure of the bench, measured in this one run.

    A step that fails is recorded as failed (with its reason) and the others
    still run; the caller exits non-zero when any failed.
    """
    settings = project.settings
    ours = project.with_settings(variants=",".join(BENCH_VARIANTS), targets="runtime,server")
    engine = require_engine(ours)
    plan = prepare_plan(ours, select(ours), engine)
    base = plan.builds[0].request.build_args["BUILD_BASE"]
    tree = plan.source.path
    result = BenchResult(str(plan.version), f"{os.cpu_count()} cores, base {base}")

    def step(name: str, measure: Callable[[], Figure | None]) -> None:
        try:
            figure = measure()
        except ProjectError as exc:
            result.failed.append(name)
            result.add(Figure(name, 0.0, "s", note=f"FAILED: {exc.message}"))
            return
        if figure is not None:
            result.add(figure)

    # Cold: no build cache, no cache mounts, no ccache.
    engine.prune_build_cache()
    cold, _ = timed(lambda: build_local(ours))
    step(
        "no-op rebuild",
        lambda: rebuild_figure("no-op rebuild", lambda: build_local(ours), cold, "<s 5"),
    )
    step(
        "rebuild after a packaging script edit",
        lambda: rebuild_figure(
            "rebuild after a packaging script edit",
            lambda: packaging_edit(project, ours, workdir),
            cold,
            "<= 0.1",
        ),
    )
    step(
        "rebuild on a new base image",
        lambda: rebuild_figure(
            "rebuild on a new base image",
            lambda: build_local(
                ours.with_settings(base_override=new_base(engine, base, workdir / "base"))
            ),
            cold,
            "<= 0.1",
        ),
    )
    with local_registry(workdir / "registry", auth="none") as server:
        seeded = ours.with_settings(ccache_registry=server.host)

        def fresh_runner() -> list[BuiltImage]:
            for ref in export_ccache(seeded):
                engine.remove_image(ref)  # a fresh runner pulls it
            engine.prune_build_cache()
            return build_local(seeded)

        step(
            "fresh runner seeded from the registry's ccache",
            lambda: rebuild_figure(
                "fresh runner seeded from the registry's ccache", fresh_runner, cold, "<= 0.2"
            ),
        )
        if bump_source:
            step(
                "rebuild after a pin bump, ccache kept",
                lambda: rebuild_figure(
                    "rebuild after a pin bump, ccache kept",
                    lambda: build_local(ours.with_settings(source_path=bump_source)),
                    cold,
                ),
            )
            build_local(ours)  # back to the pin for the image figures
        else:
            result.add(
                Figure(
                    "rebuild after a pin bump, ccache kept",
                    0.0,
                    "s",
                    note="not measured: pass --bump-source DIR (a newer llama.cpp tree)",
                )
            )

        # Upstream's recipes, built their way: no cache of any kind.
        upstream: dict[str, str] = {}
        upstream_cold = 0.0
        for variant in BENCH_VARIANTS:
            recipe = project.catalog().variants[variant].upstream_dockerfile
            started = time.monotonic()
            image = build_upstream(
                engine,
                tree,
                recipe,
                variant,
                project.pin().short_commit,
                base,
                workdir / "upstream",
                no_cache=True,
            )
            upstream[variant] = image.ref
            upstream_cold += time.monotonic() - started
        result.figures.insert(
            0,
            Figure(
                "cold build, cpu + vulkan",
                cold,
                "s",
                "upstream's recipes, cold",
                upstream_cold,
                "<= 0.6",
            ),
        )
        step(
            "image sizes",
            lambda: sizes(
                result, engine, ours, plan.version, base, upstream, Registry(server.host)
            ),
        )
    step(
        "servers",
        lambda: servers(
            result,
            engine,
            settings,
            plan.version,
            upstream,
            model_folder(settings.cache_path, tree),
            project,
        ),
    )
    return result


def sizes(
    result: BenchResult,
    engine: Engine,
    ours: Project,
    version: BuildVersion,
    base: str,
    upstream: dict[str, str],
    registry: Registry,
) -> None:
    build_local(ours.with_settings(variants="cpu", targets="media"))
    repo = Repository.parse(ours.settings.repo)
    cpu_runtime = repo.at(ImageTag("cpu", "runtime", version))
    cpu_server = repo.at(ImageTag("cpu", "server", version))
    media = repo.at(ImageTag("cpu", "media", version))
    theirs = added_bytes(engine, upstream["cpu"], base)
    result.add(
        Figure(
            "cpu runtime image adds to its base",
            added_bytes(engine, cpu_runtime, base),
            "bytes",
            "upstream's cpu server",
            theirs,
            note="the folder and libgomp only",
        )
    )
    result.add(
        Figure(
            "cpu server image adds to its base",
            added_bytes(engine, cpu_server, base),
            "bytes",
            "upstream's cpu server",
            theirs,
            note="+ curl for the HEALTHCHECK, a user",
        )
    )
    result.add(
        Figure(
            "cpu media flavour (ffmpeg) adds to its base",
            added_bytes(engine, media, base),
            "bytes",
            "upstream's cpu server",
            theirs,
            "<= 1.0",
        )
    )
    pushed: dict[str, str] = {}
    for name, ref in {
        "ours-cpu": cpu_server,
        "ours-vulkan": repo.at(ImageTag("vulkan", "server", version)),
        "upstream-cpu": upstream["cpu"],
        "upstream-vulkan": upstream["vulkan"],
    }.items():
        target = f"{registry.host}/bench/{name}:{version}"
        engine.tag(engine.image_id(ref), target)
        engine.push(target)
        pushed[name] = target
    theirs_second = second_pull_bytes(registry, pushed["upstream-cpu"], pushed["upstream-vulkan"])
    result.add(
        Figure(
            "pull of the vulkan server after the cpu server (compressed)",
            second_pull_bytes(registry, pushed["ours-cpu"], pushed["ours-vulkan"]),
            "bytes",
            "upstream's, the same pair",
            theirs_second,
        )
    )
    for target in pushed.values():
        engine.untag(target)


def servers(
    result: BenchResult,
    engine: Engine,
    settings: Settings,
    version: BuildVersion,
    upstream: dict[str, str],
    model_dir: Path,
    project: Project,
) -> None:
    catalog = project.catalog()
    repo = Repository.parse(settings.repo)
    for variant in BENCH_VARIANTS:
        smoke = catalog.variants[variant].smoke
        args, env = list(smoke.args), dict(smoke.environment)
        measured = [
            measure_server(engine, ref, model_dir, args, env)
            for ref in (repo.at(ImageTag(variant, "server", version)), upstream[variant])
        ]
        same = "yes" if measured[0]["text"] == measured[1]["text"] else "NO"
        for entry in measured:
            entry["matches"] = same
            result.servers.append(entry)


def write_results(result: BenchResult, results_dir: Path) -> Path:
    path = results_dir / f"bench-{result.version}.json"
    write_json_atomically(path, result.as_json())
    return path


def run_and_report(project: Project, bump_source: str = "") -> None:
    """`invoke bench` and `nox -s bench`: measures, prints the table, writes the figures."""
    result = run_bench(project, project.settings.cache_path / "bench", bump_source=bump_source)
    print(render(result))
    path = write_results(result, project.root / project.settings.results_dir)
    print(f"figures written to {path}")
    if result.failed:
        raise ProjectError(f"bench steps failed: {', '.join(result.failed)}")


def main(argv: list[str] | None = None) -> int:
    """`python -m llama_images.commands.bench [--bump-source DIR]`, which `nox -s bench` runs."""
    parser = argparse.ArgumentParser(
        prog="llama_images.commands.bench", description=run_and_report.__doc__
    )
    parser.add_argument("--bump-source", default="", help="a newer llama.cpp tree: also a pin bump")
    options = parser.parse_args(argv)
    try:
        run_and_report(Project.open(Path.cwd()), options.bump_source)
    except ProjectError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
