"""Upstream's own `.devops/` recipes, built their way from the pinned source.

Only what cannot work offline is swapped: every base image becomes the
offline base, and the `web` stage (which needs the node image and npm) becomes
a placeholder UI, since our images ship without the web UI too. Everything
else, the CMake configuration and the all-targets build included, is
upstream's text at the pin. The images serve as references for the bench and
for the equivalence tests.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.errors import ProjectError
from llama_images.paths import read_utf8

UPSTREAM_REPOSITORY = "llama-images-upstream"
# The files upstream's embed step requires of a UI build (tools/ui/embed.cpp).
PLACEHOLDER_UI = {
    "index.html": "<!doctype html><title>llama.cpp</title>",
    "manifest.webmanifest": "{}",
    "sw.js": "/* no UI */",
    "build.json": "{}",
    "version.json": "{}",
    "bundle.placeholder.js": "/* no UI */",
    "bundle.placeholder.css": "/* no UI */",
    "workbox-placeholder.js": "/* no UI */",
}


def placeholder_ui_command(dist: str) -> str:
    writes = " && ".join(
        f"printf '%s' '{body}' > {dist}/{name}" for name, body in PLACEHOLDER_UI.items()
    )
    return f"RUN mkdir -p {dist} && {writes}"


_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


def rewrite_recipe(text: str, base: str) -> str:
    """Upstream's Dockerfile with every external base swapped and the web UI stubbed."""
    out: list[str] = []
    stages: set[str] = set()
    skipping = False
    for line in text.splitlines():
        match = _FROM.match(line.strip())
        if match:
            image, name = match[1], (match[2] or "")
            skipping = False
            if name.lower() == "web":
                skipping = True
                out += [f"FROM {base} AS web", placeholder_ui_command("/app/tools/ui/dist")]
                stages.add("web")
                continue
            if image.lower() not in stages:
                image = base
            out.append(f"FROM {image}" + (f" AS {name}" if name else ""))
            if name:
                stages.add(name.lower())
            continue
        if not skipping:
            out.append(line)
    if "web" not in stages and "--from=web" in text:
        raise ProjectError("upstream recipe copies from a web stage it does not define")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class UpstreamImage:
    variant: str
    target: str
    ref: str


def upstream_ref(variant: str, target: str, tag: str) -> str:
    return f"{UPSTREAM_REPOSITORY}/{variant}:{target}-{tag}"


RECIPE_LABEL = "org.llama-images.upstream-recipe"


def recipe_request(
    tree: Path, recipe: str, base: str, base_id: str, workdir: Path, target: str, no_cache: bool
) -> BuildRequest:
    source = tree / ".devops" / recipe
    if not source.is_file():
        raise ProjectError(f"upstream recipe {source} does not exist at the pin")
    workdir.mkdir(parents=True, exist_ok=True)
    dockerfile = workdir / recipe
    text = rewrite_recipe(read_utf8(source), base)
    dockerfile.write_text(text)
    # What the image is made of: an image with the same key needs no rebuild.
    key = hashlib.sha256(f"{text}\n{base_id}\n{target}".encode()).hexdigest()[:16]
    return BuildRequest(
        dockerfile=dockerfile,
        context=tree,
        target=target,
        platform="",
        build_args={},
        labels={RECIPE_LABEL: key},
        no_cache=no_cache,
    )


def build_upstream(
    engine: Engine,
    tree: Path,
    recipe: str,
    variant: str,
    tag: str,
    base: str,
    workdir: Path,
    *,
    target: str = "server",
    no_cache: bool = False,
) -> UpstreamImage:
    """Builds one upstream recipe's target and tags it `llama-images-upstream/<variant>`.

    Unless `no_cache`, an image already tagged and made of the same recipe text,
    base image and target is reused as it is.
    """
    request = recipe_request(tree, recipe, base, engine.image_id(base), workdir, target, no_cache)
    ref = upstream_ref(variant, target, tag)
    if (
        not no_cache
        and engine.image_exists(ref)
        and engine.image_labels(ref).get(RECIPE_LABEL) == request.labels[RECIPE_LABEL]
    ):
        return UpstreamImage(variant, target, ref)
    print(f"==> building upstream's {recipe} ({target}) as {ref}", file=sys.stderr)
    with (workdir / f"build-{variant}-{target}.log").open("w") as log:
        image_id = engine.build(request, log)
    engine.tag(image_id, ref)
    return UpstreamImage(variant, target, ref)
