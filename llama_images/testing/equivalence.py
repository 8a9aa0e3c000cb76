"""Whether a composed image answers as upstream's own build of its variant does.

Both serve the tiny model at once with the variant's smoke settings and answer
one greedy completion: the text and the backend modules loaded must be the
same. Run by the equivalence tests (`nox -s equivalence`) and by the bench,
against the references upstream_recipes builds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.testing.servers import MODEL_MOUNT, RunningServer, run_server
from llama_images.testing.tinymodel import MODEL_NAME

GREEDY = {"prompt": "Once upon a time", "n_predict": 32, "temperature": 0, "seed": 7}


@dataclass(frozen=True)
class Answer:
    """What one image answered, and the backend modules its server had loaded."""

    text: str
    tokens_per_s: float
    modules: tuple[str, ...]


@contextlib.contextmanager
def start(engine: Engine, image: str, model_dir: Path, smoke: Smoke) -> Iterator[RunningServer]:
    with run_server(
        engine,
        image,
        model_dir,
        args=["-m", f"{MODEL_MOUNT}/{MODEL_NAME}", "--port", "8080", *smoke.args],
        environment=dict(smoke.environment),
        requires=smoke.requires,
    ) as server:
        yield server


def answer(server: RunningServer) -> Answer:
    server.wait_ready()
    reply = server.post("/completion", GREEDY)
    modules = sorted(
        path.rsplit("/", 1)[-1] for path in server.mapped_libraries() if "/libggml-" in path
    )
    return Answer(reply["content"], float(reply["timings"]["predicted_per_second"]), tuple(modules))


def answers(
    engine: Engine, ours: str, theirs: str, model_dir: Path, smoke: Smoke
) -> tuple[Answer, Answer]:
    """Our image's answer and the reference's, their servers running side by side."""
    with (
        start(engine, ours, model_dir, smoke) as our_server,
        start(engine, theirs, model_dir, smoke) as their_server,
    ):
        return answer(our_server), answer(their_server)


def differences(ours: Answer, theirs: Answer, backend_modules: Sequence[str]) -> list[str]:
    """Each way our answer is not the reference's; empty when they are equivalent."""
    found = []
    if not ours.text:
        found.append("the composed image generated nothing")
    if ours.text != theirs.text:
        found.append(f"text {ours.text!r} differs from the reference's {theirs.text!r}")
    if ours.modules != theirs.modules:
        mine, reference = ", ".join(ours.modules), ", ".join(theirs.modules)
        found.append(f"modules loaded {mine}, the reference's {reference}")
    missing = [module for module in backend_modules if module not in ours.modules]
    if missing:
        found.append(f"backend modules not loaded: {', '.join(missing)}")
    return found
