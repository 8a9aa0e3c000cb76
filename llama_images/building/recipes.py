"""Every variant's Dockerfile, rendered from the shared stage templates and its catalog entry.

The stage text lives once, in base-images/templates/; what differs between variants
is data in variants.toml. The rendered Dockerfiles are committed (they are what
contributors read and what `diff-upstream` compares with upstream's recipes), and
`stale_recipes` tells when one no longer matches its sources.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

import jinja2

from llama_images.errors import ProjectError
from llama_images.model.catalog import Catalog, Recipe, Variant
from llama_images.model.project import Project

TEMPLATES = "templates"
RECIPE_TEMPLATE = "recipe.Dockerfile.j2"
RENDER_COMMAND = "invoke render-recipes"
WRAP_AT = 88


def _words(words: Iterable[str], indent: int) -> str:
    """Shell words, wrapped onto continuation lines indented by `indent` spaces."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) + indent <= WRAP_AT:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return f" \\\n{' ' * indent}".join(lines)


def _arg_value(value: str) -> str:
    """An ARG default as the Dockerfile reader takes it: quoted where it has spaces or `;`."""
    if value == "":
        return '""'
    return f"'{value}'" if re.search(r"[\s;]", value) else value


@functools.cache
def _environment(base_images: Path) -> jinja2.Environment:
    """One environment per templates folder: it compiles each template once (a template
    edited later in the same process is still read again, as jinja2 checks its mtime)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(base_images / TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["words"] = _words
    environment.filters["arg_value"] = _arg_value
    return environment


def backend_target(variant: Variant) -> str:
    """The CMake target of a composed variant's backend module: libggml-vulkan.so -> ggml-vulkan."""
    return variant.backend_modules[0].removeprefix("lib").removesuffix(".so")


def render_recipe(catalog: Catalog, variant: Variant) -> str:
    try:
        template = _environment(catalog.root).get_template(RECIPE_TEMPLATE)
        # The variant's build args are the defaults of the global ARGs they name.
        global_args = {
            name: variant.build_args.get(name, value)
            for name, value in variant.recipe.global_args.items()
        }
        text = template.render(
            variant=variant,
            recipe=variant.recipe,
            web_ui=catalog.web_ui,
            # The web stage installs Node on a Debian base, whatever the variant's packager.
            web_recipe=Recipe(build_packages=(), runtime_packages=()),
            global_args=global_args,
            composed=bool(variant.composition.core),
            backend_target=backend_target(variant),
            build_base=variant.recipe.build_base or variant.bases.build,
            runtime_base=variant.recipe.runtime_base or variant.bases.runtime,
        )
    except jinja2.TemplateError as exc:
        raise ProjectError(f"cannot render {variant.dockerfile.name}: {exc}") from None
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def rendered_recipes(catalog: Catalog) -> dict[Path, str]:
    return {v.dockerfile: render_recipe(catalog, v) for v in catalog.variants.values()}


def stale_recipes(catalog: Catalog) -> list[Path]:
    """The Dockerfiles that are missing or differ from what their sources render."""
    return [
        path
        for path, text in rendered_recipes(catalog).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def check_recipes(catalog: Catalog) -> None:
    """Fails, naming the files and the fix, when a recipe does not match its sources."""
    stale = stale_recipes(catalog)
    if stale:
        names = ", ".join(p.name for p in stale)
        raise ProjectError(
            f"{names} out of date with base-images/variants.toml and templates/: "
            f"run `{RENDER_COMMAND}`"
        )


def write_recipes(catalog: Catalog) -> list[Path]:
    """Writes the recipes that changed; returns them."""
    changed = []
    for path, text in rendered_recipes(catalog).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def render_recipes(project: Project, *, check: bool) -> str:
    """`render-recipes`: writes what changed, or with `check` only fails if anything would."""
    catalog = project.catalog()
    if check:
        check_recipes(catalog)
        return f"all {len(catalog.variants)} recipes match their sources"
    changed = write_recipes(catalog)
    return "\n".join(f"rendered {p.relative_to(project.root)}" for p in changed) or (
        "no recipe changed"
    )
