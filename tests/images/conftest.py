"""Fixtures for the image tests: the engine, the images under test, the tiny model, results.

The checks are grouped by image along the targets' hierarchy, runtime (the base
layer) -> server -> media. runtime/ holds the contract every image keeps, so its
checks run on every image (`image`), and those of the base layer as such
(`runtime_image`); server/ runs on the server target (`server_image`). What
spans images has its own folder: composition/ (a GPU image against the cpu
core, and against upstream's build), publishing/ (registries, signing),
recipes/ (the recipes against upstream's). shared/ holds the helpers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llama_images.adapters.emulation import register_emulation
from llama_images.adapters.engine import Engine
from llama_images.adapters.source import fetch_source
from llama_images.commands.supply_chain import Signing
from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog, Smoke, host_platform
from llama_images.model.metadata import write_json_atomically
from llama_images.model.project import Project
from llama_images.report import table
from llama_images.testing.servers import ImageUnderTest, host_can_run, images_for_version
from llama_images.testing.signing import CosignKeys
from llama_images.testing.signing import cosign_keys as make_cosign_keys
from llama_images.testing.tinymodel import model_folder

ROOT = Path(__file__).resolve().parents[2]
_RESULTS: list[dict[str, Any]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llama-images")
    group.addoption("--image", action="append", default=[], help="image reference to test")
    group.addoption("--variant", action="append", default=[], help="only test this variant")
    group.addoption(
        "--equivalence",
        action="store_true",
        help="also run the checks marked equivalence, which build upstream's recipes",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "equivalence: builds upstream's recipe to compare with (about 15 minutes cold); "
        "deselected unless --equivalence (nox -s equivalence)",
    )
    # Fail fast, with one line, when there is nothing to test.
    if not config.option.collectonly:
        _discover(config)


def _discover(config: pytest.Config) -> tuple[Engine, list[ImageUnderTest], Project]:
    cached = getattr(config, "_llama_images", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        project = Project.open(ROOT)
        engine = Engine.connect(project.settings.docker, log_dir=project.settings.cache_path)
        refs: list[str] = config.getoption("--image")
        if refs:
            images = [ImageUnderTest.inspect(engine, ref) for ref in refs]
        else:
            version = str(project.version())
            images = images_for_version(engine, version)
            if not images:
                raise ProjectError(
                    f"no image built for version {version}: build one with "
                    "`invoke build-local --variants cpu` (or pass --image REF)"
                )
        variants: list[str] = config.getoption("--variant")
        if variants:
            images = [i for i in images if i.variant in variants]
            if not images:
                raise ProjectError(f"no image of variant {', '.join(variants)} to test")
    except ProjectError as exc:
        raise pytest.UsageError(exc.message) from None
    config._llama_images = (engine, images, project)  # type: ignore[attr-defined]
    return engine, images, project


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--equivalence"):
        return
    expensive = [item for item in items if item.get_closest_marker("equivalence")]
    if expensive:
        config.hook.pytest_deselected(items=expensive)
        items[:] = [item for item in items if item not in expensive]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted: dict[str, Callable[[ImageUnderTest], bool]] = {
        "image": lambda i: True,
        "runtime_image": lambda i: i.target == "runtime",
        "server_image": lambda i: i.target == "server",
        "gpu_image": lambda i: i.variant != "cpu",
    }
    for fixture, keep in wanted.items():
        if fixture in metafunc.fixturenames:
            _, images, _ = _discover(metafunc.config)
            chosen = [
                pytest.param(i, id=i.ref, marks=_unrunnable(i.platform)) for i in images if keep(i)
            ]
            metafunc.parametrize(fixture, chosen, scope="session")


@functools.cache
def _unrunnable(platform: str) -> list[pytest.MarkDecorator]:
    """A skip for images of a platform this host cannot run, after registering QEMU's
    handler where it is installed; none for the host's own platform."""
    if platform in ("", host_platform()):
        return []
    why = register_emulation(platform)
    return [pytest.mark.skip(reason=f"{platform} images: {why}")] if why else []


@pytest.fixture(scope="session")
def engine(pytestconfig: pytest.Config) -> Engine:
    return _discover(pytestconfig)[0]


@pytest.fixture(scope="session")
def project(pytestconfig: pytest.Config) -> Project:
    return _discover(pytestconfig)[2]


@pytest.fixture(scope="session")
def catalog(project: Project) -> Catalog:
    return project.catalog()


@pytest.fixture(scope="session")
def model_dir(project: Project) -> Path:
    """A folder holding the tiny model, made once from the pinned source's tokenizer."""
    source = fetch_source(project.pin(), project.settings.cache_path, project.settings.source_path)
    return model_folder(project.settings.cache_path, source.path)


@pytest.fixture(scope="session")
def server_cache(engine: Engine) -> Iterator[str]:
    """One named volume at the servers' cache folder for the whole run: Vulkan on lavapipe
    compiles its shaders there once (about 20 s) instead of at every server start."""
    with engine.volume() as volume:
        yield volume


@pytest.fixture
def metrics() -> dict[str, float]:
    """Figures a test reports (seconds, tokens/s); they land in the results table."""
    return {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
    figures = getattr(item, "funcargs", {}).get("metrics")
    if report.when == "call" and figures:
        report.user_properties.append(("metrics", dict(figures)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name, _, param = report.nodeid.partition("[")
        figures = dict(report.user_properties).get("metrics", {})
        _RESULTS.append(
            {
                "check": name.rsplit("::", 1)[-1],
                "image": param.rstrip("]") or "-",
                "outcome": "xfailed" if hasattr(report, "wasxfail") else report.outcome,
                "seconds": round(report.duration, 2),
                "metrics": figures,
            }
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    rows = [
        [
            r["image"],
            r["check"],
            r["outcome"],
            f"{r['seconds']:.1f}",
            ", ".join(f"{k}={v:.3g}" for k, v in sorted(r["metrics"].items())),
        ]
        for r in _RESULTS
    ]
    terminalreporter.write_line(
        table(["image", "check", "result", "seconds", "figures"], rows, title="image checks")
    )
    results_dir = ROOT / "results"
    path = results_dir / f"test-images-{time.strftime('%Y%m%dT%H%M%S')}.json"
    write_json_atomically(path, {"results": _RESULTS})
    terminalreporter.write_line(f"results written to {path.relative_to(ROOT)}")


@pytest.fixture(scope="session")
def smoke(catalog: Catalog, server_image: ImageUnderTest) -> Smoke:
    """How this variant is run here; skipped where the host lacks its device."""
    smoke = catalog.variants[server_image.variant].smoke
    reason = host_can_run(smoke.requires)
    if reason:
        pytest.skip(f"{server_image.ref} {reason}; a host that has it runs this check")
    if smoke.device_log and server_image.platform not in ("", host_platform()):
        pytest.skip(
            f"{server_image.ref} would serve on a software GPU under QEMU, where lavapipe was "
            "still compiling its shaders after 6 minutes; its image is checked statically "
            "here and served on a native host"
        )
    return smoke


@pytest.fixture(scope="session")
def cosign_keys(tmp_path_factory: pytest.TempPathFactory) -> CosignKeys:
    """A fresh cosign key pair for the run: what publishing signs with here."""
    try:
        return make_cosign_keys(tmp_path_factory.mktemp("cosign"))
    except ProjectError as exc:
        pytest.fail(exc.message, pytrace=False)


@pytest.fixture(scope="session")
def signing(cosign_keys: CosignKeys, project: Project) -> Signing:
    """Key-mode signing with the run's key pair (a loopback registry has no Rekor)."""
    return cosign_keys.signing(project.pin(), str(project.version()))
