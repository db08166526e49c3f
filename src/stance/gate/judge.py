"""Judge an evaluation folder (``<split>/predictions.jsonl`` and ``metrics.json``) against a gate spec.

The caller says where the baseline's predictions come from (a callable), since
that differs: ``stance-evaluate`` may evaluate a registry version that has none
saved, while the script only reads files. Anything that keeps the gate from
judging (a split not evaluated, a baseline on other pairs) is a
:class:`GateError`, exit 2, never a pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.config import GateConfig
from stance.errors import StanceError
from stance.evaluation.compare import build_comparison
from stance.evaluation.predictions import PREDICTIONS_JSONL, read_predictions
from stance.evaluation.report import METRICS_JSON, ReportSettings
from stance.gate.baseline import GateError
from stance.gate.checks import Check, split_checks

PASS, FAIL, CANNOT_JUDGE = 0, 1, 2
# (split, the candidate's rows) -> the baseline's rows on the same pairs
BaselineRows = Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass
class SplitJudgement:
    split: str
    folder: Path  # the candidate's evaluation of this split (report.md, PNGs)
    report: dict[str, Any]  # its metrics.json
    comparison: dict[str, Any] | None  # against the baseline, when there is one
    checks: list[Check] = field(default_factory=list)


@dataclass
class GateResult:
    gate: str
    version: str
    baseline: str | None
    alpha: float
    splits: list[SplitJudgement]

    @property
    def checks(self) -> list[Check]:
        return [c for s in self.splits for c in s.checks]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return PASS if self.passed else FAIL

    def verdict_line(self) -> str:
        n = len(self.checks)
        if self.passed:
            return f"quality gate: PASS: {n} checks of gate {self.gate} hold for {self.version}"
        return f"quality gate: FAIL: {len(self.failures)} of {n} checks of gate {self.gate} fail for {self.version}"


def read_report(folder: Path) -> dict[str, Any]:
    path = folder / METRICS_JSON
    if not path.is_file():
        raise GateError(f"no {path}: the split was not evaluated (run the evaluation first)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GateError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(report, dict) or not isinstance(report.get("metrics"), dict) or "labels" not in report:
        raise GateError(f"{path}: not an evaluation report (no 'metrics' or 'labels')")
    return report


def compare_with_baseline(spec: GateConfig, folder: Path, split: str, version: str, baseline: str,
                          baseline_rows: BaselineRows) -> dict[str, Any]:
    try:
        rows = read_predictions(folder / PREDICTIONS_JSONL)
        settings = ReportSettings(n_resamples=spec.n_resamples)
        meta = {"split": split, "version": version, "baseline": baseline}
        return build_comparison(rows, baseline_rows(split, rows), meta, settings)
    except GateError:
        raise
    except StanceError as err:  # e.g. the baseline scored other pairs: nothing to compare, so no verdict
        raise GateError(f"{split}: {err}") from None


def judge(spec: GateConfig, eval_dir: Path, version: str, baseline: str | None = None,
          baseline_rows: BaselineRows | None = None) -> GateResult:
    """Every check of ``spec`` on the splits under ``eval_dir``; the baseline is optional unless a rule needs it."""
    if spec.needs_baseline and baseline_rows is None:
        raise GateError(f"gate {spec.name} checks drops against a baseline, and none was given")
    judged = []
    for split in spec.splits:
        folder = Path(eval_dir) / split
        report = read_report(folder)
        comparison = (compare_with_baseline(spec, folder, split, version, baseline or "baseline", baseline_rows)
                      if baseline_rows is not None else None)
        judged.append(SplitJudgement(split, folder, report, comparison,
                                     split_checks(spec, split, report, comparison)))
    return GateResult(spec.name, version, baseline, spec.alpha, judged)
