"""Nox sessions: lint, typecheck, unit tests, image tests, the equivalence check, the workflow run
and benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
CODE = ["llama_images", "tests", "tasks.py", "noxfile.py"]


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style and common mistakes with ruff, and the CI workflow with actionlint."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", *CODE)
    session.run("ruff", "format", "--check", *CODE)
    session.run("actionlint", ".github/workflows/base-images.yml")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Check types with mypy (strict)."""
    session.install("-e", ".[lint,test]")
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the unit tests: no engine needed."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session(python=PYTHON, default=False)
def test_images(session: nox.Session) -> None:
    """Prove that every image built for HEAD's version honours the contract and serves a model."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/images", *session.posargs)


@nox.session(python=PYTHON, default=False)
def equivalence(session: nox.Session) -> None:
    """Build upstream's own recipe for each composed variant and compare: same text, same modules.

    Not part of `make test`: upstream's recipe compiles everything, about 15 minutes cold.
    """
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "--equivalence",
        "tests/images/composition/test_upstream_equivalence.py",
        *session.posargs,
    )


@nox.session(python=PYTHON, default=False)
def arm64(session: nox.Session) -> None:
    """Cross-compile the cpu and vulkan images for linux/arm64 beside amd64, then prove them:
    the folder contract, the cpu server under QEMU, and one tag merged from both platforms.

    Not part of `make test`: the arm64 cross builds add about 25 minutes cold on 2 cores,
    and their tests run emulated. Needs QEMU's binfmt handlers (qemu-user-static).
    """
    session.install("-e", ".[test]")
    platforms = "linux/amd64,linux/arm64"
    session.run("invoke", "build-local", "--variants", "cpu,vulkan", "--platforms", platforms)
    session.run("pytest", "tests/images", *session.posargs)


@nox.session(python=PYTHON, default=False)
def faults(session: nox.Session) -> None:
    """Kill a build mid-compile (client and engine) on a private dockerd, then resume it.

    Not part of `make test`: a cold cpu build, killed, then finished: 30 to 60 minutes.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "faults", "-rs", "tests/faults", *session.posargs)


@nox.session(python=PYTHON, default=False)
def workflow(session: nox.Session) -> None:
    """Run the release workflow with act: a release tag builds, smoke-tests and publishes cpu."""
    session.install("-e", ".[test]")
    session.run("pytest", "-rs", "tests/workflow", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Measure cold, no-op, new-base, fresh-runner builds and image sizes against references."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "llama_images.commands.bench", *session.posargs)
