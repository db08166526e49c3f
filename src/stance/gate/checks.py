"""Each rule of a gate spec as a :class:`Check`: what was measured, the limit, and whether it held.

The numbers come from the evaluation (``metrics.json``) and from the
comparison with the baseline (``build_comparison``: deltas with paired-bootstrap
intervals and p-values). Nothing is recomputed here, so the summary, the JUnit
file and the report show the same numbers as the evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stance.config import METRIC_NAMES, GateConfig, MetricCheck, SplitGate


@dataclass(frozen=True)
class Check:
    split: str
    name: str  # e.g. "macro_f1 >= 0.741", "F1 of favor: drop vs baseline"
    passed: bool
    message: str  # one line with the numbers; a failure's line names the metric or the class
    value: float | None = None  # the new version's value
    baseline: float | None = None
    delta: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    limit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _floor(split: str, what: str, value: float | None, threshold: float) -> Check:
    passed = value is not None and value >= threshold
    verdict = ">=" if passed else "<"
    return Check(split, f"{what} >= {threshold:.4f}", passed,
                 f"{split}: {what} {_fmt(value)} {verdict} floor {threshold:.4f}", value=value, limit=threshold)


def _drop(split: str, what: str, delta: dict[str, Any], rule: MetricCheck, alpha: float) -> Check:
    """Fails when the new version is below the baseline by more than ``max_drop`` (and, if asked, significantly)."""
    drop = -delta["delta"]
    p = delta.get("p_value")
    significant = p is not None and p < alpha
    too_far = drop > rule.max_drop + 1e-12  # float noise must not fail an exact tie at max_drop 0
    passed = not (too_far and (significant or not rule.significant))
    ci = "n/a" if delta.get("low") is None else f"[{delta['low']:+.4f}, {delta['high']:+.4f}]"
    why = ("significant" if significant else "not significant") + f" at {alpha} (p = {_fmt(p)})"
    line = (f"{split}: {what} {_fmt(delta['a'])} vs baseline {_fmt(delta['b'])}: change {delta['delta']:+.4f}, "
            f"95% CI {ci}, {why}; allowed drop {rule.max_drop:.4f}"
            + ("" if rule.significant else " (significance not required)"))
    if not passed:
        line = f"{line}: REGRESSION"
    return Check(split, f"{what}: drop vs baseline <= {rule.max_drop:.4f}", passed, line, value=delta["a"],
                 baseline=delta["b"], delta=delta["delta"], low=delta.get("low"), high=delta.get("high"),
                 p_value=p, limit=rule.max_drop)


def metric_checks(split: str, rules: SplitGate, report: dict[str, Any], comparison: dict[str, Any] | None,
                  alpha: float) -> list[Check]:
    checks = []
    for name, rule in rules.metrics.items():
        what = METRIC_NAMES[name]
        if rule.threshold is not None:
            checks.append(_floor(split, what, report["metrics"].get(name), rule.threshold))
        if rule.max_drop is not None and comparison is not None:
            checks.append(_drop(split, what, comparison[name], rule, alpha))
    return checks


def class_checks(split: str, rule: MetricCheck, report: dict[str, Any], comparison: dict[str, Any] | None,
                 alpha: float) -> list[Check]:
    checks = []
    per_class = report["metrics"].get("per_class", {})
    for label in report["labels"]:
        what = f"F1 of class '{label}'"
        if rule.threshold is not None:
            checks.append(_floor(split, what, per_class.get(label, {}).get("f1"), rule.threshold))
        if rule.max_drop is not None and comparison is not None:
            checks.append(_drop(split, what, comparison["per_class_f1"][label], rule, alpha))
    return checks


def ece_check(split: str, ceiling: float, report: dict[str, Any]) -> Check:
    ece = (report.get("calibration") or {}).get("ece")
    passed = ece is not None and ece <= ceiling
    return Check(split, f"ECE <= {ceiling:.4f}", passed,
                 f"{split}: expected calibration error {_fmt(ece)} {'<=' if passed else '>'} ceiling {ceiling:.4f}",
                 value=ece, limit=ceiling)


def split_checks(spec: GateConfig, split: str, report: dict[str, Any],
                 comparison: dict[str, Any] | None) -> list[Check]:
    """Every check of ``spec`` on one split; drop checks only when there is a comparison."""
    rules = spec.splits[split]
    checks = metric_checks(split, rules, report, comparison, spec.alpha)
    if not rules.per_class_f1.empty:
        checks += class_checks(split, rules.per_class_f1, report, comparison, spec.alpha)
    if rules.max_ece is not None:
        checks.append(ece_check(split, rules.max_ece, report))
    return checks
