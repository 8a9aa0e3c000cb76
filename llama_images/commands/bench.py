"""`nox -s bench`: build cost and image figures, each against a reference from the same run.

One run on one machine, from the pinned source and one base: our cold build
against upstream's recipes built their way, our rebuilds against our cold
build, image sizes against upstream's, server start-up per image, and the
composed images' answers against upstream's builds (llama_images.testing.equivalence).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from llama_images.adapters import gitinfo
from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.adapters.npm import forget_ui_packages
from llama_images.adapters.pypi import release_sdist
from llama_images.adapters.registry import Registry
from llama_images.adapters.source import Pin, SourceSpec, SourceTree, fetch_source, is_llama_tree
from llama_images.building.builder import BuiltImage, build_local, prepare_plan, select
from llama_images.building.builder_images import export_ccache
from llama_images.building.buildlog import BuildLog, StageTime, read_build_log
from llama_images.building.steps import require_engine
from llama_images.errors import ProjectError
from llama_images.model.metadata import project_label, write_json_atomically
from llama_images.model.project import Project
from llama_images.model.reference import Repository
from llama_images.model.tags import ImageTag
from llama_images.model.version import BuildVersion
from llama_images.paths import user_path
from llama_images.report import human_size, table
from llama_images.testing.equivalence import answers, differences
from llama_images.testing.localregistry import local_registry
from llama_images.testing.servers import MODEL_MOUNT, run_server
from llama_images.testing.tinymodel import MODEL_NAME, model_folder
from llama_images.testing.upstream_recipes import build_upstream

BENCH_VARIANTS = ("cpu", "vulkan")
STAGE_SHOWN_SECONDS = 0.5
PIN_BUMP = "rebuild after a pin bump, ccache kept"
# The PyPI project whose sdist vendors a llama.cpp tree, and where.
BUMP_PACKAGE = "llama-cpp-python"
BUMP_SUBDIR = "vendor/llama.cpp"
BUMP_USAGE = f"a llama.cpp tree, or {BUMP_PACKAGE}==VERSION"
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


@dataclass(frozen=True)
class BuildStages:
    """One build of the cold build: its wall time, and the step time of each stage."""

    variant: str
    target: str
    wall_seconds: float
    stages: tuple[StageTime, ...]
    note: str = ""  # why there are no stages

    @property
    def steps_seconds(self) -> float:
        return BuildLog(self.stages).total_steps_seconds

    def shown(self) -> list[StageTime]:
        """The stages worth a row: those that ran for a while, and the longest step's."""
        longest = BuildLog(self.stages).longest
        return [s for s in self.stages if s.seconds > STAGE_SHOWN_SECONDS or s is longest]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "steps_seconds": self.steps_seconds}


def build_stages(built: BuiltImage) -> BuildStages:
    """Where one build's time went, from its log; a log that cannot be read leaves a note."""
    stages: tuple[StageTime, ...] = ()
    note = "no build log"
    if built.log_path is not None:
        try:
            stages, note = read_build_log(built.log_path).stages, ""
        except ProjectError as exc:
            note = exc.message
    return BuildStages(built.variant, built.target, built.seconds, stages, note)


@dataclass
class BenchResult:
    version: str
    machine: str
    figures: list[Figure] = field(default_factory=list)
    servers: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    stages: list[BuildStages] = field(default_factory=list)  # the cold build's

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
            "checks": self.checks,
            "stages": [build.as_json() for build in self.stages],
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
    return f"{figures}\n{render_stages(result.stages)}\n{servers}"


STAGES_TITLE = (
    "where the cold build's time goes (a stage's seconds are the time its steps ran, not wall "
    "time: steps, and builds, run concurrently)"
)


def render_stages(builds: list[BuildStages]) -> str:
    rows: list[list[str]] = []
    for build in builds:
        name = f"{build.variant} {build.target}"
        run = sum(s.steps_run for s in build.stages)
        cached = sum(s.steps_cached for s in build.stages)
        wall = f"{build.wall_seconds:.1f} s"
        rows.append([name, "whole build, wall", wall, str(run), str(cached), build.note, ""])
        rows += [
            [
                name,
                stage.stage,
                f"{stage.seconds:.1f} s",
                str(stage.steps_run),
                str(stage.steps_cached),
                stage.longest_step,
                f"{stage.longest_seconds:.1f} s" if stage.longest_step else "",
            ]
            for stage in build.shown()
        ]
    return table(
        ["build", "stage", "seconds", "steps run", "cached", "longest step", "its seconds"],
        rows,
        title=STAGES_TITLE,
    )


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


def packaging_edit(project: Project, ours: Project, workdir: Path) -> list[BuiltImage]:
    """Builds from a scratch work tree of HEAD whose packaging scripts were edited."""
    with gitinfo.scratch_worktree(project.root, workdir / "edited") as checkout:
        scripts = checkout / "base-images" / "scripts"
        for script in ("package.sh", "compose.sh"):
            with (scripts / script).open("a") as handle:
                handle.write("# a packaging edit\n")
        return build_local(Project(checkout, ours.settings))


@dataclass
class BenchRun:
    """What the steps share: our project, the engine, the base, the figures, the references."""

    project: Project
    ours: Project  # the project narrowed to the bench's variants and targets
    engine: Engine
    version: BuildVersion
    base: str
    tree: Path
    workdir: Path
    bump_source: str  # the pin bump's llama.cpp tree, or ""
    result: BenchResult
    bump_origin: str = ""  # where that tree came from
    cold: float = 0.0
    cold_built: list[BuiltImage] = field(default_factory=list)
    registry: str = ""  # the loopback registry, while it runs
    upstream: dict[str, str] = field(default_factory=dict)  # variant -> upstream's image

    def add(self, figure: Figure) -> None:
        self.result.add(figure)

    def image(self, variant: str, target: str = "server") -> str:
        """Our image of a variant and target, as build_local tagged it."""
        repository = Repository.parse(self.ours.settings.repo)
        return repository.at(ImageTag(variant, target, self.version))


@dataclass(frozen=True)
class Step:
    """One named measurement; it adds its figures to the run."""

    name: str
    measure: Callable[[BenchRun], None]


@dataclass(frozen=True)
class Rebuild:
    """A rebuild, timed against our cold build."""

    name: str
    build: Callable[[BenchRun], list[BuiltImage]]
    goal: str = ""
    about: str = ""  # what was rebuilt, when the name does not say
    # What happens before the rebuild and is not timed (what an earlier run left behind).
    prepare: Callable[[BenchRun], None] | None = None
    # Runs of a rebuild that leaves nothing to redo, timed as their median (each one shown).
    runs: int = 1

    def measure(self, run: BenchRun) -> None:
        if self.prepare is not None:
            self.prepare(run)
        timings = [timed(partial(self.build, run)) for _ in range(self.runs)]
        seconds = statistics.median(seconds for seconds, _ in timings)
        built = [image for _, images in timings for image in images]
        note = f"compiled: {ccache_rate(built) or 'nothing'}"
        if self.runs > 1:
            each = ", ".join(f"{seconds:.1f}" for seconds, _ in timings)
            note = f"median of {self.runs} runs ({each} s); {note}"
        note = f"{self.about}; {note}" if self.about else note
        run.add(Figure(self.name, seconds, "s", "our cold build", run.cold, self.goal, note))


def run_steps(run: BenchRun, steps: Iterable[Step | Rebuild]) -> None:
    """Runs each step; one that fails is recorded as failed, with its reason, and the next runs."""
    for step in steps:
        try:
            step.measure(run)
        except ProjectError as exc:
            run.result.failed.append(step.name)
            run.add(Figure(step.name, 0.0, "s", note=f"FAILED: {exc.message}"))


def start_run(project: Project, workdir: Path, bump: SourceTree | None) -> BenchRun:
    ours = project.with_settings(variants=",".join(BENCH_VARIANTS), targets="runtime,server")
    engine = require_engine(ours)
    plan = prepare_plan(ours, select(ours), engine)
    base = plan.builds[0].request.build_args["BUILD_BASE"]
    result = BenchResult(str(plan.version), f"{os.cpu_count()} cores, base {base}")
    return BenchRun(
        project=project,
        ours=ours,
        engine=engine,
        version=plan.version,
        base=base,
        tree=plan.source.path,
        workdir=workdir,
        bump_source=str(bump.path) if bump else "",
        bump_origin=f"{bump.origin} ({bump.proof})" if bump else "",
        result=result,
    )


def cold_build(run: BenchRun) -> None:
    """Our cold build: no build cache, no cache mounts, no ccache, the web UI's packages
    fetched again (upstream's web stage fetches them in its build); and where its time went."""
    run.engine.prune_build_cache()
    forget_ui_packages(run.tree, run.project.settings.cache_path)
    run.cold, run.cold_built = timed(partial(build_local, run.ours))
    run.result.stages = [build_stages(built) for built in run.cold_built]


def unchanged(run: BenchRun) -> list[BuiltImage]:
    return build_local(run.ours)


def packaging_edited(run: BenchRun) -> list[BuiltImage]:
    return packaging_edit(run.project, run.ours, run.workdir)


def on_new_base(run: BenchRun) -> list[BuiltImage]:
    refreshed = new_base(run.engine, run.base, run.workdir / "base")
    return build_local(run.ours.with_settings(base_override=refreshed))


def seeded(run: BenchRun) -> Project:
    return run.ours.with_settings(ccache_registry=run.registry)


def export_then_empty_the_engine(run: BenchRun) -> None:
    """What main's last build left in the registry (its ccache and web UI), and a runner
    whose engine has nothing: no build cache, no cache mounts, not the exported images."""
    for ref in export_ccache(seeded(run)):
        run.engine.remove_image(ref)  # a fresh runner pulls it
    run.engine.prune_build_cache()


def on_fresh_runner(run: BenchRun) -> list[BuiltImage]:
    """A runner with an empty engine, seeded from the registry's exports."""
    return build_local(seeded(run))


def pin_bump(run: BenchRun) -> None:
    if not run.bump_source:
        note = (
            f"not measured: pass --bump-source DIR or {BUMP_PACKAGE}==VERSION (a newer llama.cpp)"
        )
        run.add(Figure(PIN_BUMP, 0.0, "s", note=note))
        return
    try:
        Rebuild(PIN_BUMP, on_bumped_source, about=run.bump_origin).measure(run)
    finally:
        build_local(run.ours)  # back to the pin for the image figures


def on_bumped_source(run: BenchRun) -> list[BuiltImage]:
    return build_local(run.ours.with_settings(source_path=run.bump_source))


_PACKAGE_VERSION = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)$")


def bump_tree(argument: str, cache: Path) -> SourceTree | None:
    """The llama.cpp tree `--bump-source` names, checked before anything is built: a folder,
    or `llama-cpp-python==VERSION`, whose sdist's vendored tree is unpacked once under `cache`."""
    if not argument:
        return None
    named = _PACKAGE_VERSION.match(argument.strip())
    if named:
        return released_tree(named["name"], named["version"], cache)
    folder = user_path(argument, "--bump-source").resolve()
    if not folder.exists():
        raise ProjectError(f"--bump-source {folder} does not exist: name {BUMP_USAGE}")
    if not is_llama_tree(folder):
        raise ProjectError(
            f"--bump-source {folder} is not a llama.cpp tree (no CMakeLists.txt and "
            f"tools/server): name {BUMP_USAGE}"
        )
    return SourceTree(path=folder, origin=f"local {folder}", proof="unverified")


def released_tree(name: str, version: str, cache: Path) -> SourceTree:
    """The llama.cpp tree a llama-cpp-python release vendors, from its sdist on PyPI."""
    if canonicalize_name(name) != BUMP_PACKAGE:
        raise ProjectError(
            f"--bump-source {name}=={version}: only {BUMP_PACKAGE}'s sdist vendors llama.cpp: "
            f"name {BUMP_USAGE}"
        )
    try:
        Version(version)
    except InvalidVersion:
        raise ProjectError(
            f"--bump-source: {version!r} is not a PyPI (PEP 440) version: name a release, "
            f"e.g. {BUMP_PACKAGE}==0.3.36"
        ) from None
    archive, sha256 = release_sdist(BUMP_PACKAGE, version, cache)
    spec = SourceSpec(kind="archive", path=str(archive), subdir=BUMP_SUBDIR, sha256=sha256)
    # fetch_source keeps a tree under its pin's commit: here, the release stands for it.
    release = f"{BUMP_PACKAGE}-{version}"
    tree = fetch_source(Pin(tag=release, commit=release, build_number=0, sources=(spec,)), cache)
    return SourceTree(tree.path, f"{BUMP_PACKAGE}=={version}", tree.proof, tree.files)


def build_reference(run: BenchRun, variant: str) -> str:
    """Upstream's recipe for a variant, built their way with no cache of any kind."""
    image = build_upstream(
        run.engine,
        run.tree,
        run.project.catalog().variants[variant].upstream_dockerfile,
        variant,
        run.project.pin().short_commit,
        run.base,
        run.workdir / "upstream",
        no_cache=True,
    )
    return image.ref


def build_references(run: BenchRun) -> None:
    """Upstream's images of the bench's variants; their time is our cold build's reference."""
    upstream_cold = 0.0
    for variant in BENCH_VARIANTS:
        seconds, run.upstream[variant] = timed(partial(build_reference, run, variant))
        upstream_cold += seconds
    reference = "upstream's recipes, cold"
    cold = Figure("cold build, cpu + vulkan", run.cold, "s", reference, upstream_cold, "<= 0.6")
    run.result.figures.insert(0, cold)


# What the cpu images add to their base: figure, target, goal, note.
ADDED_TO_BASE = (
    ("cpu runtime image adds to its base", "runtime", "", "the folder and libgomp only"),
    ("cpu server image adds to its base", "server", "", "+ curl for the HEALTHCHECK, a user"),
    ("cpu media flavour (ffmpeg) adds to its base", "media", "<= 1.0", ""),
)


def sizes(run: BenchRun) -> None:
    """What each cpu image adds to its base, and what a second pull costs, against upstream's."""
    build_local(run.ours.with_settings(variants="cpu", targets="media"))
    theirs = added_bytes(run.engine, run.upstream["cpu"], run.base)
    for name, target, goal, note in ADDED_TO_BASE:
        mine = added_bytes(run.engine, run.image("cpu", target), run.base)
        run.add(Figure(name, mine, "bytes", "upstream's cpu server", theirs, goal, note))
    run.add(second_pull(run))


def second_pull(run: BenchRun) -> Figure:
    registry = Registry(run.registry)
    pushed: dict[str, str] = {}
    for name, ref in {
        "ours-cpu": run.image("cpu"),
        "ours-vulkan": run.image("vulkan"),
        "upstream-cpu": run.upstream["cpu"],
        "upstream-vulkan": run.upstream["vulkan"],
    }.items():
        target = f"{registry.host}/bench/{name}:{run.version}"
        run.engine.tag(run.engine.image_id(ref), target)
        run.engine.push(target)
        pushed[name] = target
    theirs = second_pull_bytes(registry, pushed["upstream-cpu"], pushed["upstream-vulkan"])
    ours = second_pull_bytes(registry, pushed["ours-cpu"], pushed["ours-vulkan"])
    for target in pushed.values():
        run.engine.untag(target)
    return Figure(
        "pull of the vulkan server after the cpu server (compressed)",
        ours,
        "bytes",
        "upstream's, the same pair",
        theirs,
    )


def servers(run: BenchRun) -> None:
    """Each server image and upstream's: time to healthy, to the first token, tokens/s."""
    model_dir = model_folder(run.project.settings.cache_path, run.tree)
    catalog = run.project.catalog()
    for variant in BENCH_VARIANTS:
        smoke = catalog.variants[variant].smoke
        args, env = list(smoke.args), dict(smoke.environment)
        measured = [
            measure_server(run.engine, ref, model_dir, args, env)
            for ref in (run.image(variant), run.upstream[variant])
        ]
        same = "yes" if measured[0]["text"] == measured[1]["text"] else "NO"
        for entry in measured:
            entry["matches"] = same
            run.result.servers.append(entry)


def composed_answers(run: BenchRun) -> None:
    """The equivalence check (tests/images/composition) on each composed image: it answers
    as upstream's build, its reference here, does."""
    model_dir = model_folder(run.project.settings.cache_path, run.tree)
    catalog = run.project.catalog()
    for variant in BENCH_VARIANTS:
        ours = run.image(variant)
        if variant == "cpu" or run.engine.image_labels(ours).get(project_label("core")) != "cpu":
            continue
        spec = catalog.variants[variant]
        mine, theirs = answers(run.engine, ours, run.upstream[variant], model_dir, spec.smoke)
        found = differences(mine, theirs, spec.backend_modules)
        if found:
            raise ProjectError(f"{variant} does not answer as upstream's build: {'; '.join(found)}")
        check = f"{variant}: the composed server answers as upstream's build"
        run.result.checks.append(check)
        print(f"==> bench: {check}", file=sys.stderr)


REBUILDS = (
    Rebuild("no-op rebuild", unchanged, "<s 5", runs=3),
    Rebuild("rebuild after a packaging script edit", packaging_edited, "<= 0.1"),
    Rebuild("rebuild on a new base image", on_new_base, "<= 0.1"),
)
SEEDED = (
    Rebuild(
        "fresh runner seeded from the registry's ccache and web UI",
        on_fresh_runner,
        "<= 0.1",
        prepare=export_then_empty_the_engine,
    ),
    Step(PIN_BUMP, pin_bump),
)
AGAINST_UPSTREAM = (Step("image sizes", sizes),)
SERVED = (
    Step("servers", servers),
    Step("composed images answer as upstream's builds", composed_answers),
)


def run_bench(project: Project, workdir: Path, bump_source: str = "") -> BenchResult:
    """Every figure of the bench, measured in this one run.

    A step that fails is recorded as failed (with its reason) and the others
    still run; the caller exits non-zero when any failed.
    """
    bump = bump_tree(bump_source, project.settings.cache_path / "bump-sources")
    run = start_run(project, workdir, bump)
    cold_build(run)
    run_steps(run, REBUILDS)
    # The fresh runner pulls its ccache from this registry; the image sizes push to it.
    with local_registry(workdir / "registry", auth="none") as server:
        run.registry = server.host
        run_steps(run, SEEDED)
        build_references(run)
        run_steps(run, AGAINST_UPSTREAM)
    run_steps(run, SERVED)
    return run.result


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
    """`python -m llama_images.commands.bench [--bump-source DIR|llama-cpp-python==VERSION]`,
    which `nox -s bench` runs."""
    parser = argparse.ArgumentParser(
        prog="llama_images.commands.bench", description=run_and_report.__doc__
    )
    parser.add_argument(
        "--bump-source",
        default="",
        help=f"{BUMP_USAGE} (its sdist's {BUMP_SUBDIR}), newer than the pin: also a pin bump",
    )
    options = parser.parse_args(argv)
    try:
        run_and_report(Project.open(Path.cwd()), options.bump_source)
    except ProjectError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
