"""The built web UI as a seed for fresh runners: keyed by what it is made of, named in
UI_IMAGE only when the registry has it, exported from the recipes' web-dist stage."""

from __future__ import annotations

from pathlib import Path

from llama_images.adapters.source import SourceTree, load_pin
from llama_images.building.builder import Selection, planned_ui_images
from llama_images.building.builder_images import ui_exports
from llama_images.building.plan import WEB_DIST_STAGE, ui_key
from tests.unit.conftest import CATALOG, REPO_ROOT, plan_of

WEB_BASE = "llama-images/debian:trixie"


def test_the_key_follows_every_input_of_the_built_ui() -> None:
    files = {"package-lock.json": "sha256:1", "src/app.ts": "sha256:2"}
    key = ui_key(files, "RUN npm run build", WEB_BASE, 10454)
    assert key == ui_key(dict(reversed(files.items())), "RUN npm run build", WEB_BASE, 10454)
    assert key != ui_key({**files, "src/app.ts": "sha256:3"}, "RUN npm run build", WEB_BASE, 10454)
    assert key != ui_key(files, "RUN npm run build --x", WEB_BASE, 10454)
    assert key != ui_key(files, "RUN npm run build", "docker.io/node:24", 10454)
    assert key != ui_key(files, "RUN npm run build", WEB_BASE, 10455)


def test_a_seed_is_named_only_for_its_own_web_base() -> None:
    seeded = plan_of(
        ["cpu"],
        web_bases={"offline": WEB_BASE, "upstream": "docker.io/node:24"},
        ui_seeds={WEB_BASE: "registry.test/llama.cpp-ui:abc"},
    )
    assert {b.request.build_args["UI_IMAGE"] for b in seeded.builds} == {
        "registry.test/llama.cpp-ui:abc"
    }
    other = plan_of(
        ["cpu"],
        web_bases={"offline": WEB_BASE, "upstream": "docker.io/node:24"},
        ui_seeds={"docker.io/node:24": "registry.test/llama.cpp-ui:def"},
    )
    assert all("UI_IMAGE" not in b.request.build_args for b in other.builds)


def ui_tree(root: Path, app: str) -> SourceTree:
    (root / "tools" / "ui" / "src").mkdir(parents=True)
    (root / "tools" / "ui" / "src" / "app.ts").write_text(app)
    return SourceTree(root, "test", "ok")


def test_export_and_plan_agree_on_the_image_and_the_export_builds_web_dist(
    tmp_path: Path,
) -> None:
    source = ui_tree(tmp_path / "a", "one")
    plan = plan_of(["cpu", "vulkan"], source=source, web_bases={"offline": WEB_BASE})
    pin = load_pin(REPO_ROOT / ".devops")
    selection = Selection(CATALOG, CATALOG.select(["cpu", "vulkan"]), [], ("runtime",), pin)
    exports = ui_exports(plan, selection, "registry.test/llama.cpp")
    wanted = planned_ui_images(CATALOG, source, pin, "registry.test/llama.cpp", {WEB_BASE})
    assert list(exports) == [wanted[WEB_BASE]]
    request = exports[wanted[WEB_BASE]]
    assert request.target == WEB_DIST_STAGE
    assert request.dockerfile.name == "cpu.Dockerfile"
    changed = ui_tree(tmp_path / "b", "two")
    assert planned_ui_images(CATALOG, changed, pin, "registry.test/llama.cpp", {WEB_BASE}) != wanted


def test_every_recipe_takes_the_ui_from_the_seed_or_its_own_web_stage() -> None:
    from llama_images.building.dockerfile import parse_dockerfile

    for variant in CATALOG.variants.values():
        recipe = parse_dockerfile(variant.dockerfile)
        stages = {s.name: s for s in recipe.stages}
        assert recipe.global_args["UI_IMAGE"] == WEB_DIST_STAGE, variant.name
        assert stages["ui"].base == "${UI_IMAGE}"
        assert stages[WEB_DIST_STAGE].base == "scratch"
        copies = [
            i.value
            for s in recipe.stages
            for i in s.instructions
            if i.keyword == "COPY" and "tools/ui/dist" in i.value
        ]
        assert copies and all(c.startswith("--from=ui ") for c in copies), variant.name
