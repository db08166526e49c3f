"""Issue 24: the CI examples in examples/ci/ use commands that exist, with keys and flags they accept.

Each `stance-*` command line in the GitHub Actions and GitLab CI files is
composed against the shipped configs, exactly as the command would compose it
(a misspelt key or a bad value fails here, not in a user's pipeline).
"""

from __future__ import annotations

import re
import shlex
from importlib.metadata import distribution
from pathlib import Path

import pytest
import yaml

from stance.config import EvaluateJob, PredictJob, PrepareJob, TrainJob
from stance.schemas import to_dataclass

from .conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "ci").glob("*.yml"))
JOBS = {"stance-train": ("train", TrainJob), "stance-evaluate": ("evaluate", EvaluateJob),
        "stance-prepare": ("prepare", PrepareJob), "stance-predict": ("predict", PredictJob)}
SEPARATORS = {";", "&&", "||", "|"}
KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "!"}  # a command may follow these


def scripts_of(path: Path) -> list[str]:
    """The shell text of every step: GitHub's `run:` and GitLab's script lists."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "run" and isinstance(value, str):
                    found.append(value)
                elif key in ("script", "before_script", "after_script"):
                    found.extend(value if isinstance(value, list) else [value])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(path.read_text()))
    return found


def commands(script: str) -> list[list[str]]:
    """Each stance command (a word in command position) with its arguments; CI variables become plain words."""
    text = re.sub(r"\$\{\{[^}]*\}\}|\$\([^)]*\)|\$\{?\w+\}?", "VALUE", script.replace("\\\n", " "))
    found = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        current, at_start = None, True
        for token in lexer:
            if token in SEPARATORS or token in KEYWORDS:
                current, at_start = None, True
            elif at_start:
                current = [token] if token.startswith("stance-") else None
                found += [current] if current else []
                at_start = False
            elif current is not None:
                current.append(token)
    return found


def console_scripts() -> set[str]:
    """The installed package's commands: what a user who pip-installed stance can run."""
    return {e.name for e in distribution("stance").entry_points if e.group == "console_scripts"}


def all_commands(path: Path) -> list[list[str]]:
    return [c for script in scripts_of(path) for c in commands(script)]


def test_there_are_github_and_gitlab_examples():
    assert [p.name for p in EXAMPLES] == ["github-actions.yml", "gitlab-ci.yml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_command_exists_and_accepts_its_overrides(path):
    found = all_commands(path)
    names = [c[0] for c in found]
    # Each example trains, and evaluates with a gate against a baseline.
    assert "stance-train" in names and "stance-evaluate" in names
    assert any("gate=default" in c and any(a.startswith("baseline=") for a in c) for c in found)
    for command, *overrides in found:
        assert command in console_scripts(), f"{path.name}: {command} is not a console script of the package"
        config, job_type = JOBS[command]
        job = to_dataclass(compose_config(config, overrides), job_type)
        job.check()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_uploaded_report_is_where_the_gate_writes_it(path):
    text = path.read_text()
    outs = {a.split("=", 1)[1] for c in all_commands(path) for a in c if a.startswith("gate.out=")}
    assert outs == {"gate-report"}
    assert "gate-report/summary.md" in text and "gate-report/" in text


def test_the_command_reader_sees_continued_lines_and_variables():
    script = ('if [ -f x ]; then\n  stance-evaluate registry=$REG \\\n    gate=ci baseline="${{ env.B }}"\nfi\n'
              'cp -r stance-x y && stance-train seed=1')
    assert commands(script) == [["stance-evaluate", "registry=VALUE", "gate=ci", "baseline=VALUE"],
                                ["stance-train", "seed=1"]]
