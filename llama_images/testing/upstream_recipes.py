"""Upstream's own `.devops/` recipes, built their way from the pinned source.

Only the base images are swapped: every one becomes the offline base, and the
`web` stage's Node image becomes a Node base made from it (Debian's nodejs and
npm, trusting the certificate authorities the host trusts, so that `npm ci`
reaches the npm registry through whatever proxy the host's network has).
Everything else, the web UI's online `npm ci` and the CMake configuration and
all-targets build included, is upstream's text at the pin. The images serve as
references for the bench and for the equivalence tests.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from llama_images.adapters.engine import BuildRequest, Engine
from llama_images.errors import ProjectError
from llama_images.paths import read_utf8

UPSTREAM_REPOSITORY = "llama-images-upstream"
# Where Debian (and so the offline base) keeps the bundle of trusted authorities.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
NODE_BASE_DOCKERFILE = """\
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \\
    && rm -rf /var/lib/apt/lists/*
COPY host-ca.crt /usr/local/share/llama-images/host-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/llama-images/host-ca.crt
"""


def node_base(engine: Engine, base: str, workdir: Path, ca_bundle: Path = HOST_CA_BUNDLE) -> str:
    """The stand-in for upstream's Node image, built once per base and host trust store."""
    if not ca_bundle.is_file():
        raise ProjectError(
            f"{ca_bundle} is missing, which upstream's web stage needs to reach the npm "
            "registry: install ca-certificates"
        )
    dockerfile = NODE_BASE_DOCKERFILE.format(base=base)
    key = hashlib.sha256(
        f"{dockerfile}\n{engine.image_id(base)}\n".encode() + ca_bundle.read_bytes()
    ).hexdigest()[:12]
    ref = f"{UPSTREAM_REPOSITORY}/node:{key}"
    if engine.image_exists(ref):
        return ref
    context = workdir / "node-base"
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    shutil.copyfile(ca_bundle, context / "host-ca.crt")
    print(f"==> building the Node base of upstream's web stage as {ref}", file=sys.stderr)
    with (workdir / "build-node-base.log").open("w") as log:
        image_id = engine.build(BuildRequest(context / "Dockerfile", context, "", "", {}, {}), log)
    engine.tag(image_id, ref)
    return ref


_FROM = re.compile(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


def rewrite_recipe(text: str, base: str, web_base: str) -> str:
    """Upstream's Dockerfile with every external base swapped: `web_base` for its web stage."""
    out: list[str] = []
    stages: set[str] = set()
    for line in text.splitlines():
        match = _FROM.match(line.strip())
        if match:
            image, name = match[1], (match[2] or "")
            if image.lower() not in stages:
                image = web_base if name.lower() == "web" else base
            out.append(f"FROM {image}" + (f" AS {name}" if name else ""))
            if name:
                stages.add(name.lower())
            continue
        out.append(line)
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
    tree: Path,
    recipe: str,
    bases: tuple[str, str],
    base_id: str,
    workdir: Path,
    target: str,
    no_cache: bool,
) -> BuildRequest:
    """The build of one upstream recipe; `bases` is the offline base and the web stage's."""
    source = tree / ".devops" / recipe
    if not source.is_file():
        raise ProjectError(f"upstream recipe {source} does not exist at the pin")
    workdir.mkdir(parents=True, exist_ok=True)
    dockerfile = workdir / recipe
    text = rewrite_recipe(read_utf8(source), *bases)
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
    bases = (base, node_base(engine, base, workdir))
    request = recipe_request(tree, recipe, bases, engine.image_id(base), workdir, target, no_cache)
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
