"""The equivalence check's verdict, and that `make test` never builds upstream's recipes."""

from __future__ import annotations

from llama_images.testing.equivalence import Answer, differences
from tests.unit.conftest import REPO_ROOT

MODULES = ("libggml-cpu-haswell.so", "libggml-vulkan.so")
THEIRS = Answer("upon a time there was", 40.0, MODULES)


def test_the_same_text_and_modules_are_equivalent() -> None:
    assert differences(Answer("upon a time there was", 55.0, MODULES), THEIRS, MODULES) == []


def test_each_difference_is_named() -> None:
    ours = Answer("", 55.0, MODULES[:1])
    assert differences(ours, THEIRS, ["libggml-vulkan.so"]) == [
        "the composed image generated nothing",
        "text '' differs from the reference's 'upon a time there was'",
        "modules loaded libggml-cpu-haswell.so, the reference's "
        "libggml-cpu-haswell.so, libggml-vulkan.so",
        "backend modules not loaded: libggml-vulkan.so",
    ]


def test_only_checks_marked_equivalence_build_upstream_recipes() -> None:
    # The image tests run in `make test`; the marker keeps upstream's 15-minute build out.
    for path in sorted((REPO_ROOT / "tests" / "images").rglob("*.py")):
        text = path.read_text()
        if "build_upstream" in text:
            assert "pytestmark = pytest.mark.equivalence" in text, path
