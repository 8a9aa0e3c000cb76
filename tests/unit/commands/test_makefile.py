"""Makefile = tasks: every Invoke task has a Make target of its name that runs it, and back."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

from invoke.collection import Collection

from tests.unit.conftest import REPO_ROOT

# Targets that run no task: the task list, the host's packages, the whole CI run.
HELPER_TARGETS = {"help", "host", "test"}
TASK_RECIPE = "$(INVOKE) $@ $(ARGS)"
RULE = re.compile(r"^(?P<targets>[^\s:=#][^:=]*?)\s*:(?![:=])(?P<prerequisites>.*)$")


@dataclass
class Rule:
    targets: list[str]
    prerequisites: list[str] = field(default_factory=list)
    recipe: list[str] = field(default_factory=list)


def logical_lines(text: str) -> list[str]:
    """The Makefile's lines with backslash continuations joined."""
    return text.replace("\\\n", " ").splitlines()


def parse_rules(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for line in logical_lines(text):
        if line.startswith("\t") and rules:
            rules[-1].recipe.append(line.strip())
        elif match := RULE.match(line):
            rules.append(Rule(match["targets"].split(), match["prerequisites"].split()))
        elif line.strip() and not line.startswith("#"):
            rules.append(Rule(targets=[]))  # an assignment: ends the previous recipe
    return rules


def phony_targets(rules: list[Rule]) -> set[str]:
    return {name for rule in rules if rule.targets == [".PHONY"] for name in rule.prerequisites}


def named_targets(rules: list[Rule]) -> dict[str, list[str]]:
    """Each target that names a command (not a file, not a special target) and its recipe."""
    return {
        target: rule.recipe
        for rule in rules
        for target in rule.targets
        if not target.startswith(".") and "/" not in target and "$" not in target
    }


def task_names() -> set[str]:
    return set(Collection.from_module(importlib.import_module("tasks")).task_names)


def makefile_rules() -> list[Rule]:
    return parse_rules((REPO_ROOT / "Makefile").read_text())


def test_every_task_has_a_target() -> None:
    targets = named_targets(makefile_rules())
    missing = sorted(task_names() - set(targets))
    assert not missing, f"Invoke tasks with no Makefile target: {', '.join(missing)}"


def test_every_target_is_a_task() -> None:
    targets = named_targets(makefile_rules())
    missing = sorted(set(targets) - HELPER_TARGETS - task_names())
    assert not missing, f"Makefile targets with no Invoke task: {', '.join(missing)}"


def test_task_targets_run_their_task() -> None:
    targets = named_targets(makefile_rules())
    wrong = sorted(name for name in task_names() & set(targets) if targets[name] != [TASK_RECIPE])
    assert not wrong, f"targets that do not run `{TASK_RECIPE}`: {', '.join(wrong)}"


def test_command_targets_are_phony() -> None:
    rules = makefile_rules()
    missing = sorted(set(named_targets(rules)) - phony_targets(rules))
    assert not missing, f"targets missing from .PHONY: {', '.join(missing)}"


def test_parser_reads_targets_recipes_and_phony() -> None:
    rules = parse_rules(
        "V := x\n.PHONY: a \\\n  b\na b: $(V)/f c\n\t$(INVOKE) $@ $(ARGS)\n"
        "$(V)/f: p\n\ttouch $@\nc:\n\t@echo\n"
    )
    assert phony_targets(rules) == {"a", "b"}
    assert named_targets(rules) == {"a": [TASK_RECIPE], "b": [TASK_RECIPE], "c": ["@echo"]}
