"""`diff-upstream`: how upstream's `.devops/` recipes drifted from what we record and build."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from llama_images.adapters.source import fetch_source
from llama_images.building.dockerfile import Dockerfile, cmake_flags_in, parse_dockerfile
from llama_images.building.recipes import check_recipes
from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog
from llama_images.model.metadata import write_json_atomically
from llama_images.model.project import Project
from llama_images.paths import read_utf8, user_path
from llama_images.report import table

FACTS_FILE = "upstream-facts.json"
# Upstream recipes that are not image variants of their own.
NOT_VARIANTS = frozenset({"llama-cli-cann"})
UPSTREAM_RUNTIME_STAGE = "base"
UPSTREAM_BUILD_STAGE = "build"
# Our targets whose packages together stand for upstream's runtime stage.
OUR_RUNTIME_STAGES = ("runtime", "server", "media")
_VERSION_IN = re.compile(r"(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class Change:
    variant: str
    kind: str
    name: str
    before: str
    after: str
    note: str = ""


def recipe_facts(dockerfile: Dockerfile, runtime_stage: str, build_stage: str) -> dict[str, Any]:
    bases = dockerfile.resolved_bases()
    stages = set(dockerfile.stage_names())
    build_args: dict[str, str] = {}
    if build_stage in stages:
        build_args = {k: v or "" for k, v in dockerfile.stage(build_stage).args().items()}
    return {
        "dockerfile": dockerfile.path.name,
        "global_args": {k: v or "" for k, v in sorted(dockerfile.global_args.items())},
        "build_args": dict(sorted(build_args.items())),
        "bases": {"build": bases.get(build_stage, ""), "runtime": bases.get(runtime_stage, "")},
        "cmake_flags": dict(sorted(dockerfile.cmake_flags().items())),
        "runtime_packages": sorted(dockerfile.packages(runtime_stage))
        if runtime_stage in stages
        else [],
    }


def upstream_facts(tree: Path) -> dict[str, Any]:
    devops = tree / ".devops"
    if not (tree / "CMakeLists.txt").is_file() or not devops.is_dir():
        raise ProjectError(f"{tree} is not a llama.cpp tree (no CMakeLists.txt and .devops/)")
    variants = {}
    for path in sorted(devops.glob("*.Dockerfile")):
        name = path.name.removesuffix(".Dockerfile")
        if name in NOT_VARIANTS:
            continue
        variants[name] = recipe_facts(
            parse_dockerfile(path), UPSTREAM_RUNTIME_STAGE, UPSTREAM_BUILD_STAGE
        )
    if not variants:
        raise ProjectError(f"{devops} holds no Dockerfile")
    return {"variants": variants}


def load_recorded(devops: Path) -> dict[str, Any]:
    path = devops / FACTS_FILE
    try:
        recorded: dict[str, Any] = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ProjectError(f"{path} is missing: run invoke diff-upstream --update") from None
    except UnicodeDecodeError:
        raise ProjectError(f"{path} is not UTF-8: run invoke diff-upstream --update") from None
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path} is not valid JSON: {exc}") from None
    return recorded


def record(devops: Path, facts: dict[str, Any], tag: str, commit: str) -> Path:
    path = devops / FACTS_FILE
    write_json_atomically(path, {"llama_cpp": {"tag": tag, "commit": commit}, **facts})
    return path


def compare_versions(before: str, after: str) -> str:
    """'newer'/'older' when both name a version at the same place, else ''."""
    old, new = _VERSION_IN.findall(before), _VERSION_IN.findall(after)
    if not old or not new:
        return ""
    if len(old) != len(new) or _VERSION_IN.sub("#", before) != _VERSION_IN.sub("#", after):
        old, new = old[:1], new[:1]  # different shapes: compare the leading versions
    for a, b in zip(old, new, strict=True):
        try:
            va, vb = Version(a), Version(b)
        except InvalidVersion:
            return ""
        if va != vb:
            return "newer" if vb > va else "older"
    return ""


def _diff_mapping(
    variant: str, kind: str, before: dict[str, str], after: dict[str, str]
) -> list[Change]:
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            changes.append(Change(variant, f"{kind} added", key, "", new or ""))
        elif new is None:
            changes.append(Change(variant, f"{kind} removed", key, old, ""))
        else:
            changes.append(
                Change(variant, f"{kind} changed", key, old, new, compare_versions(old, new))
            )
    return changes


def diff_facts(recorded: dict[str, Any], current: dict[str, Any]) -> list[Change]:
    """Upstream now vs the facts recorded at the pin."""
    changes: list[Change] = []
    old_variants, new_variants = recorded["variants"], current["variants"]
    for name in sorted(set(new_variants) - set(old_variants)):
        changes.append(Change(name, "variant added upstream", name, "", "new recipe"))
    for name in sorted(set(old_variants) - set(new_variants)):
        changes.append(Change(name, "variant dropped upstream", name, "recorded", ""))
    for name in sorted(set(old_variants) & set(new_variants)):
        old, new = old_variants[name], new_variants[name]
        changes += _diff_mapping(name, "base", old["bases"], new["bases"])
        changes += _diff_mapping(name, "global arg", old["global_args"], new["global_args"])
        changes += _diff_mapping(name, "build arg", old["build_args"], new["build_args"])
        changes += _diff_mapping(name, "cmake flag", old["cmake_flags"], new["cmake_flags"])
        old_pkgs, new_pkgs = set(old["runtime_packages"]), set(new["runtime_packages"])
        changes += [
            Change(name, "runtime package added", p, "", p) for p in sorted(new_pkgs - old_pkgs)
        ]
        changes += [
            Change(name, "runtime package removed", p, p, "") for p in sorted(old_pkgs - new_pkgs)
        ]
    return changes


def runtime_package_changes(
    variant: str, upstream: Dockerfile, ours: Dockerfile, reasons: Mapping[str, str]
) -> list[Change]:
    """Packages upstream's runtime installs that ours lacks, and the reverse, unless the
    catalog gives the reason."""
    theirs = (
        upstream.packages(UPSTREAM_RUNTIME_STAGE)
        if UPSTREAM_RUNTIME_STAGE in upstream.stage_names()
        else set()
    )
    mine: set[str] = set()
    for stage in OUR_RUNTIME_STAGES:
        if stage in ours.stage_names():
            mine |= ours.packages(stage)
    missing = [
        Change(variant, "ours: runtime package missing", name, "(missing)", name)
        for name in sorted(theirs - mine - set(reasons))
    ]
    extra = [
        Change(variant, "ours: runtime package not upstream's", name, name, "(absent)")
        for name in sorted(mine - theirs - set(reasons))
    ]
    return missing + extra


def diff_ours(catalog: Catalog, tree: Path, compile_script: Path) -> list[Change]:
    """Our Dockerfiles and catalog vs upstream's recipes: flags and bases must agree."""
    changes: list[Change] = []
    fixed = cmake_flags_in(read_utf8(compile_script))
    for variant in catalog.variants.values():
        path = tree / ".devops" / variant.upstream_dockerfile
        if not path.is_file():
            changes.append(
                Change(
                    variant.name, "ours: upstream recipe gone", variant.upstream_dockerfile, "", ""
                )
            )
            continue
        upstream = parse_dockerfile(path)
        upstream_flags = upstream.cmake_flags()
        our_recipe = parse_dockerfile(variant.dockerfile)
        changes += runtime_package_changes(
            variant.name, upstream, our_recipe, variant.runtime_package_reasons
        )
        ours = our_recipe.cmake_flags()
        combined = {**fixed, **ours}
        for key, value in sorted(upstream_flags.items()):
            if combined.get(key) != value:
                changes.append(
                    Change(
                        variant.name,
                        "ours: cmake flag differs",
                        key,
                        combined.get(key, "(unset)"),
                        value,
                    )
                )
        for key in sorted(set(ours) - set(upstream_flags)):
            if key not in variant.extra_cmake_flags:
                changes.append(
                    Change(
                        variant.name, "ours: cmake flag not upstream's", key, ours[key], "(unset)"
                    )
                )
        # Upstream's bases, with the build args the catalog sets for this variant.
        stages = {s.name: s for s in upstream.stages if s.name}
        for role, stage in (("build", UPSTREAM_BUILD_STAGE), ("runtime", UPSTREAM_RUNTIME_STAGE)):
            if stage not in stages:
                continue
            theirs = upstream.expand(stages[stage].base, dict(variant.build_args))
            mine = getattr(variant.bases, role)
            if mine != theirs:
                changes.append(
                    Change(
                        variant.name,
                        f"ours: {role} base differs",
                        role,
                        mine,
                        theirs,
                        compare_versions(mine, theirs),
                    )
                )
    return changes


@dataclass(frozen=True)
class DriftReport:
    upstream: list[Change]
    ours: list[Change]
    unknown: list[str]  # upstream variants no catalog variant is derived from

    @property
    def drifted(self) -> bool:
        return bool(self.upstream or self.ours or self.unknown)


def unknown_variants(catalog: Catalog, facts: dict[str, Any]) -> list[str]:
    """Upstream's image recipes that no catalog variant is derived from."""
    known = {v.upstream_dockerfile.removesuffix(".Dockerfile") for v in catalog.variants.values()}
    return sorted(set(facts["variants"]) - known)


def diff_upstream(catalog: Catalog, devops: Path, tree: Path, compile_script: Path) -> DriftReport:
    current = upstream_facts(tree)
    recorded = load_recorded(devops)
    return DriftReport(
        upstream=diff_facts(recorded, current),
        ours=diff_ours(catalog, tree, compile_script),
        unknown=unknown_variants(catalog, current),
    )


def render(report: DriftReport) -> str:
    parts = []
    changes = report.upstream + report.ours
    for variant in sorted({c.variant for c in changes}):
        rows = [
            [c.kind, c.name, c.before, c.after, c.note] for c in changes if c.variant == variant
        ]
        parts.append(
            table(
                ["change", "name", "recorded / ours", "upstream", "version"],
                rows,
                title=f"{variant}:",
            )
        )
    parts += [
        f"upstream variant {name} (.devops/{name}.Dockerfile) is unknown to the catalog: "
        f"give it a [variants.{name}] table in base-images/variants.toml"
        for name in report.unknown
    ]
    parts.append("drift found" if report.drifted else "no drift: upstream matches the pin")
    return "\n".join(parts)


def diff_upstream_report(project: Project, upstream: str | None, update: bool) -> tuple[str, bool]:
    """`diff-upstream`: the report and whether it found drift (or, with `update`, a record)."""
    pin = project.pin()
    if upstream:
        tree = user_path(upstream, "--upstream").resolve()
    else:
        tree = fetch_source(pin, project.settings.cache_path, project.settings.source_path).path
    if update:
        path = record(project.devops, upstream_facts(tree), pin.tag, pin.commit)
        return f"recorded upstream facts of {tree} in {path.relative_to(project.root)}", False
    catalog = project.catalog()
    check_recipes(catalog)
    report = diff_upstream(
        catalog, project.devops, tree, project.base_images / "scripts" / "compile.sh"
    )
    return render(report), report.drifted
