from __future__ import annotations

import json
import shlex

import pytest

from llama_images.building.builder import check_platforms, describe_plan
from llama_images.errors import ProjectError
from llama_images.model.catalog import load_catalog
from llama_images.model.metadata import (
    CORE_TARGET,
    LABEL_TO_JSON,
    MODULE_TARGET,
    OCI,
    label_text,
    project_label,
)
from tests.unit.conftest import REPO_ROOT, plan_of


def test_plan_builds_runtime_and_server_with_tags() -> None:
    plan = plan_of(["cpu"])
    assert [(b.variant, b.target) for b in plan.builds] == [("cpu", "runtime"), ("cpu", "server")]
    runtime, server = plan.builds
    assert runtime.tags == ("llama.cpp:cpu-2611220312-0a1b2c3", "llama.cpp:latest-cpu")
    assert server.tags == ("llama.cpp:cpu-server-2611220312-0a1b2c3", "llama.cpp:latest-cpu-server")


def test_registry_prefixes_tags() -> None:
    plan = plan_of(["cpu"], registry="localhost:5000/")
    assert plan.builds[0].tags[0] == "localhost:5000/llama.cpp:cpu-2611220312-0a1b2c3"


def test_dry_run_rendering_shows_exact_invocations() -> None:
    plan = plan_of(["cpu"])
    text = describe_plan(plan, "/usr/bin/docker")
    commands = [line for line in text.splitlines() if line.startswith("/usr/bin/docker build")]
    assert len(commands) == 2
    argv = shlex.split(commands[0])
    assert argv[argv.index("--target") + 1] == "runtime"
    assert argv[argv.index("--platform") + 1] == "linux/amd64"
    assert argv[-1] == "/cache/ctx"
    args = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--build-arg")
    assert args["LLAMA_BUILD_NUMBER"] == "10454"
    assert args["LLAMA_BUILD_COMMIT"] == "4df29be"
    assert args["BUILD_BASE"] == "llama-images/debian:trixie"
    assert args["VERSION_JSON"] == "meta/2611220312-0a1b2c3/cpu/linux-amd64/version.json"
    labels = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--label")
    assert labels[f"{OCI}.created"] == "2026-11-18T11:06:40Z"
    assert labels[f"{OCI}.version"] == "2611220312-0a1b2c3"
    assert "2611220312-0a1b2c3" in text and "offline" in text


def test_labels_and_version_json_agree() -> None:
    record = plan_of(["cpu"]).builds[0].record
    labels = record.labels("runtime")
    document = json.loads(json.dumps(record.version_json()))
    for label, path in LABEL_TO_JSON.items():
        value = document
        for key in path:
            value = value[key]
        assert labels[label] == label_text(value), label
    assert document["server"] == "/app/bin/x86_64-unknown-linux-gnu/cpu/llama-server"
    assert labels[project_label("llama-cpp.tag")] == "b10454"


def test_several_platforms_get_platform_suffixes() -> None:
    plan = plan_of(["cpu"], ("linux/amd64", "linux/arm64"))
    assert plan.builds[2].tags[1] == "llama.cpp:latest-cpu-arm64"
    assert plan.builds[2].record.triple == "aarch64-unknown-linux-gnu"


def test_unknown_variant_names_the_known_ones() -> None:
    catalog = load_catalog(REPO_ROOT / "base-images")
    with pytest.raises(ProjectError, match=r"unknown variant gpu: known variants are cpu"):
        catalog.select(["cpu", "gpu"])


def test_unsupported_platform() -> None:
    catalog = load_catalog(REPO_ROOT / "base-images")
    with pytest.raises(ProjectError, match="is not built for linux/s390x"):
        check_platforms(catalog.select(["cpu"]), ["linux/s390x"])


def test_a_module_composed_on_the_core_compiles_beside_it() -> None:
    """The module stage needs no core, so it is started before the core's build."""
    plan = plan_of(["cpu", "vulkan"])
    (key, module), *others = plan.module_compiles().items()
    assert not others and key == ("vulkan", "linux/amd64")
    composed = next(b for b in plan.builds if b.variant == "vulkan")
    assert module.target == MODULE_TARGET and not module.labels
    assert module.build_args == composed.request.build_args
    commands = describe_plan(plan, "/usr/bin/docker").split("(DOCKER_BUILDKIT=1):\n")[1]
    first, core, *_ = commands.splitlines()
    assert first.endswith(" &") and f"--target {MODULE_TARGET}" in first
    assert f"--target {CORE_TARGET}" in core and not core.endswith("&")


def test_no_module_compiles_beside_the_core_with_no_cache_or_an_own_core() -> None:
    """--no-cache would compile the module a second time in the composed build."""
    assert plan_of(["cpu", "vulkan"], no_cache=True).module_compiles() == {}
    assert plan_of(["cpu"]).module_compiles() == {}


def test_ccache_summary_reads_compile_statistics() -> None:
    from llama_images.building.builder import ccache_summary

    log = "#11 16.53 Cacheable calls:    510 / 510 (100.0%)\n#11 16.53   Hits:   51 / 510 (10%)\n"
    local = "#11 16.53 Local storage:\n#11 16.53   Hits:   51 / 510 (10%)\n"
    assert ccache_summary(log + local) == "51/510 (10%)"
    # The core compiles in two steps (before and after the web UI): their calls add up.
    second = "#14 2.1 Cacheable calls:    10 / 10 (100.0%)\n#14 2.1   Hits:   9 / 10 (90%)\n"
    assert ccache_summary(log + local + second + local) == "60/520 (12%)"
    assert ccache_summary("#11 CACHED\n") == "cached"
