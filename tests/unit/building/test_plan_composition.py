"""The core/plugin composition, builder and ccache choices of the plan, and the bench's maths."""

from __future__ import annotations

import pytest

from llama_images.building.bases import ResolvedBases
from llama_images.building.builder import ccache_seeds, check_builder_images
from llama_images.building.plan import (
    runs_on,
    select_targets,
    toolchain_family,
    toolchain_key,
)
from llama_images.commands.bench import Figure
from llama_images.errors import ProjectError
from llama_images.model.settings import Settings
from llama_images.testing.upstream_recipes import rewrite_recipe
from tests.unit.conftest import CATALOG, OFFLINE, plan_of


def test_gpu_variant_on_the_cpu_toolchain_reuses_the_cpu_core() -> None:
    plan = plan_of(["cpu", "vulkan"])
    assert [(b.variant, b.target) for b in plan.builds] == [
        ("cpu", "core"),
        ("cpu", "runtime"),
        ("cpu", "server"),
        ("vulkan", "runtime"),
        ("vulkan", "server"),
    ]
    core = plan.builds[0]
    vulkan = plan.builds[3]
    assert core.tags == ("llama.cpp-core:cpu-2611220312-0a1b2c3-amd64",)
    assert vulkan.request.build_args["CORE_IMAGE"] == core.tags[0]
    assert vulkan.record.core == "cpu"
    assert vulkan.record.version_json()["core"] == "cpu"
    assert vulkan.request.labels["org.llama-images.core"] == "cpu"


def test_core_is_built_even_when_only_a_composed_variant_is_asked_for() -> None:
    plan = plan_of(["vulkan"])
    assert (plan.builds[0].variant, plan.builds[0].target) == ("cpu", "core")
    assert {b.variant for b in plan.builds if b.target != "core"} == {"vulkan"}


def test_other_build_base_means_an_own_core() -> None:
    upstream = ResolvedBases("docker.io/ubuntu:26.04", "docker.io/ubuntu:26.04", "upstream")
    plan = plan_of(["cpu", "vulkan"], bases={"vulkan": upstream})
    vulkan = [b for b in plan.builds if b.variant == "vulkan"]
    assert all("CORE_IMAGE" not in b.request.build_args for b in vulkan)
    assert vulkan[0].record.core == "own"
    assert "ubuntu-26.04" in vulkan[0].core.reason
    assert "core" not in [b.target for b in plan.builds]


def test_same_distribution_release_composes_across_base_images() -> None:
    cpu = ResolvedBases("docker.io/ubuntu:24.04", "docker.io/ubuntu:24.04", "upstream")
    cuda = ResolvedBases(
        "docker.io/nvidia/cuda:12.8.1-devel-ubuntu24.04",
        "docker.io/nvidia/cuda:12.8.1-runtime-ubuntu24.04",
        "upstream",
    )
    plan = plan_of(["cpu", "cuda"], bases={"cpu": cpu, "cuda": cuda})
    assert {b.record.core for b in plan.builds if b.variant == "cuda"} == {"cpu"}
    assert toolchain_family("llama-images/debian:trixie") == "debian-trixie"
    assert toolchain_family("quay.io/ascend/cann:8.5.0-910b-openeuler24.03-py3.11").startswith(
        "quay.io"
    )


def test_a_newer_release_of_the_cores_distribution_composes_on_the_older_core() -> None:
    cpu = ResolvedBases("docker.io/ubuntu:24.04", "docker.io/ubuntu:24.04", "upstream")
    vulkan = ResolvedBases("docker.io/ubuntu:26.04", "docker.io/ubuntu:26.04", "upstream")
    plan = plan_of(["cpu", "vulkan"], bases={"cpu": cpu, "vulkan": vulkan})
    composed = [b for b in plan.builds if b.variant == "vulkan"]
    assert {b.record.core for b in composed} == {"cpu"}
    assert all(b.request.build_args["BUILD_BASE"] == "docker.io/ubuntu:26.04" for b in composed)
    assert "ubuntu-24.04" in composed[0].core.reason
    assert "core" in [b.target for b in plan.builds]


@pytest.mark.parametrize(
    ("core", "build", "runtime"),
    [
        ("docker.io/ubuntu:26.04", "docker.io/ubuntu:24.04", "docker.io/ubuntu:24.04"),
        ("docker.io/ubuntu:24.04", "docker.io/ubuntu:26.04", "docker.io/ubuntu:24.04"),
        ("llama-images/debian:trixie", "docker.io/ubuntu:26.04", "docker.io/ubuntu:26.04"),
        ("docker.io/ubuntu:24.04", "quay.io/x/y:1-openeuler24.03", "quay.io/x/y:1-openeuler24.03"),
    ],
    ids=["older-build", "older-runtime", "other-distribution", "unknown-release"],
)
def test_a_core_never_composes_onto_an_older_or_other_system(
    core: str, build: str, runtime: str
) -> None:
    bases = {
        "cpu": ResolvedBases(core, core, "upstream"),
        "vulkan": ResolvedBases(build, runtime, "upstream"),
    }
    vulkan = [b for b in plan_of(["cpu", "vulkan"], bases=bases).builds if b.variant == "vulkan"]
    assert vulkan[0].record.core == "own"
    assert "runs only on its own distribution" in vulkan[0].core.reason


def test_debian_releases_order_by_codename() -> None:
    assert runs_on("debian-bookworm", "debian-trixie", "debian-sid")
    assert runs_on("debian-12", "debian-trixie")
    assert not runs_on("debian-sid", "debian-trixie")
    assert not runs_on("debian-trixie", "debian-hamm")


def test_variants_that_build_everything_say_why() -> None:
    plan = plan_of(["cann"])
    assert plan.builds[0].record.core == "single"
    assert "openEuler" in plan.builds[0].core.reason


def test_prebuilt_builders_are_named_by_their_content() -> None:
    plan = plan_of(["cpu"], builder_target="prebuilt")
    ref = plan.builds[0].request.build_args["BUILDER_IMAGE"]
    assert ref.startswith("llama.cpp-builder:cpu-amd64-")
    again = plan_of(["cpu"], builder_target="prebuilt")
    assert again.builds[0].request.build_args["BUILDER_IMAGE"] == ref
    other = plan_of(["vulkan"], builder_target="prebuilt")
    assert other.builds[-1].request.build_args["BUILDER_IMAGE"] != ref
    with pytest.raises(ProjectError, match="unknown builder target 'nightly'"):
        Settings().changed({"builder_target": "nightly"})


def test_ccache_seed_reaches_only_its_toolchain() -> None:
    key = toolchain_key(CATALOG.offline.ref, "linux/amd64")
    assert key == "llama-images-debian-trixie-amd64"
    plan = plan_of(["cpu"], ccache_seeds={key: "localhost:5000/llama.cpp-ccache:" + key})
    assert all(b.request.build_args["CCACHE_SEED"].endswith(key) for b in plan.builds)
    assert "CCACHE_SEED" not in plan_of(["cpu"]).builds[0].request.build_args
    assert list(plan.toolchains()) == [key]


def test_targets_and_flavours() -> None:
    assert select_targets(CATALOG.select(["cpu"]), ["media", "runtime"]) == ("runtime", "media")
    with pytest.raises(ProjectError, match="variant cann has no media flavour"):
        select_targets(CATALOG.select(["cann"]), ["media"])
    with pytest.raises(ProjectError, match="unknown target debug"):
        select_targets(CATALOG.select(["cpu"]), ["debug"])


def test_upstream_recipe_rewrite_swaps_only_the_bases() -> None:
    text = (
        "ARG UBUNTU_VERSION=24.04\n"
        "FROM docker.io/node:24 AS web\nRUN npm ci\n"
        "FROM docker.io/ubuntu:$UBUNTU_VERSION AS build\nRUN cmake -B build -DGGML_NATIVE=OFF\n"
        "COPY --from=web /app/tools/ui/dist tools/ui/dist\n"
        "FROM docker.io/ubuntu:$UBUNTU_VERSION AS base\n"
        "FROM base AS server\n"
    )
    rewritten = rewrite_recipe(text, "llama-images/debian:trixie", "llama-images-upstream/node:1")
    assert "FROM llama-images-upstream/node:1 AS web\nRUN npm ci\n" in rewritten
    assert "node:24" not in rewritten
    assert "FROM llama-images/debian:trixie AS build" in rewritten
    assert "FROM base AS server" in rewritten
    assert "-DGGML_NATIVE=OFF" in rewritten
    assert "COPY --from=web /app/tools/ui/dist tools/ui/dist" in rewritten


def test_bench_figures_compare_with_their_goal() -> None:
    assert Figure("cold", 60, "s", "upstream", 100, "<= 0.6").met == "yes"
    assert Figure("cold", 61, "s", "upstream", 100, "<= 0.6").met == "NO"
    assert Figure("no-op", 1.4, "s", goal="<s 5").met == "yes"
    assert Figure("no-op", 6, "s", goal="<s 5").met == "NO"
    assert Figure("sizes", 10, "bytes").met == ""


class RegistryWithout:
    """An engine stand-in whose registry holds only `present`."""

    def __init__(self, *present: str) -> None:
        self.present = set(present)
        self.asked: list[str] = []

    def try_pull(self, ref: str) -> bool:
        self.asked.append(ref)
        return ref in self.present

    def image_exists(self, ref: str) -> bool:
        return False


def test_a_missing_ccache_image_means_a_cold_start_not_an_error() -> None:
    key = toolchain_key(CATALOG.offline.ref, "linux/amd64")
    bases = {"cpu": OFFLINE, "vulkan": OFFLINE}
    empty = RegistryWithout()
    assert ccache_seeds(empty, "localhost:5000", "llama.cpp", bases, ["linux/amd64"]) == {}  # type: ignore[arg-type]
    assert empty.asked == [f"localhost:5000/llama.cpp-ccache:{key}"]
    full = RegistryWithout(f"localhost:5000/llama.cpp-ccache:{key}")
    seeds = ccache_seeds(full, "localhost:5000", "llama.cpp", bases, ["linux/amd64"])  # type: ignore[arg-type]
    assert seeds == {key: f"localhost:5000/llama.cpp-ccache:{key}"}
    assert ccache_seeds(full, "", "llama.cpp", bases, ["linux/amd64"]) == {}  # type: ignore[arg-type]


def test_prebuilt_builder_that_is_nowhere_stops_before_any_build() -> None:
    plan = plan_of(["cpu"], builder_target="prebuilt")
    with pytest.raises(ProjectError, match=r"prebuilt builder llama.cpp-builder:cpu-amd64-\w+ is"):
        check_builder_images(RegistryWithout(), plan)  # type: ignore[arg-type]
    check_builder_images(RegistryWithout(), plan_of(["cpu"]))  # type: ignore[arg-type]
