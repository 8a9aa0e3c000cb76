"""The help of each task's flags, as `invoke --help TASK` shows it; tasks.py names them."""

from __future__ import annotations

VARIANTS = "comma-separated variants (default: LLAMA_IMAGES_VARIANTS)"
PLATFORMS = "comma-separated platforms (default: the host's)"
TARGETS = "comma-separated targets: runtime, server, media (default: runtime,server)"

BUILD_LOCAL = {
    "variants": "comma-separated variants (default: LLAMA_IMAGES_VARIANTS or cpu)",
    "platforms": PLATFORMS,
    "dry-run": "print the exact plan and engine invocations, build nothing",
    "no-cache": (
        "build without the engine's layer cache (BuildKit then starts its cache mounts,"
        " the ccache's included, empty)"
    ),
    "base-mode": "auto, upstream or offline",
    "targets": TARGETS,
    "builder-target": "fromsource (default) or prebuilt (images from build-builders)",
    "ccache-registry": "a registry whose exported ccache images seed the builds",
}

BUILD_BUILDERS = {
    "variants": VARIANTS,
    "push": "push the builder images to LLAMA_IMAGES_REGISTRY",
    "dry-run": "list the builder images, build nothing",
}

EXPORT_CCACHE = {
    "registry": "the registry to push to (default: LLAMA_IMAGES_CCACHE_REGISTRY)",
    "variants": "comma-separated variants whose toolchains to export",
    "platforms": PLATFORMS,
    "dry-run": "list the ccache images, build and push nothing",
}

CLEAN_LOCAL_IMAGES = {
    "dry-run": "list what would be removed",
    "keep-current": "keep HEAD's version",
}

TEST_LOCAL_IMAGES = {
    "image": "an image reference to test (repeatable)",
    "variant": "test one variant",
}

DIFF_UPSTREAM = {
    "upstream": "a llama.cpp tree to compare with (default: the pinned source)",
    "update": "record the upstream facts of that tree (after a reviewed pin bump)",
}

RENDER_RECIPES = {"check": "change nothing; fail, naming them, if recipes are out of date"}

RELEASE_BASE_IMAGES = {"dry-run": "check everything, show what would happen"}

PUBLISH_IMAGES = {
    "variants": VARIANTS,
    "registry": "registry host to publish to (default: LLAMA_IMAGES_REGISTRY)",
    "platforms": PLATFORMS,
    "targets": TARGETS,
    "mode": "all (default); push: only push this host's platforms; "
    "merge: merge what was pushed, smoke-test, move latest",
    "dry-run": "show what would be pushed",
}

BAKE_FILE = {
    "variants": VARIANTS,
    "platforms": PLATFORMS,
    "output": "where to write it (default: docker-bake.json)",
    "cache": "registry repository for the BuildKit cache chain (optional)",
    "parent": "parent commit, for the cache chain",
    "branch": "release branch, for the cache chain",
}

BENCH = {"bump-source": "a newer llama.cpp tree: also measure a pin-bump rebuild"}
