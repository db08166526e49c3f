"""What CI shows of a gate: summary.md, junit.xml, metrics.json and a self-contained report.html.

    <out>/summary.md              for a pull-request comment; appended to $GITHUB_STEP_SUMMARY when set
    <out>/junit.xml               one test case per check, the numbers in each failure's message
    <out>/metrics.json            flat "<split>/<metric>" numbers, the deltas and every check, for dashboards
    <out>/report.html             the summary, each split's report and the comparison, pictures embedded
    <out>/<split>/*.png           the split's pictures, linked from the summary
    <out>/<split>/compare-*.md    the comparison with the baseline (and .json)

All files are written at once (``write_files_atomic``): a reader never sees half a gate.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from stance.config import METRIC_NAMES
from stance.evaluation.compare import actor_drop_lines, comparison_paths, render_comparison
from stance.evaluation.html import html_page
from stance.evaluation.render import CONFUSION_PNG, RELIABILITY_PNG, table
from stance.evaluation.report import REPORT_MD
from stance.files import write_files_atomic
from stance.gate.checks import Check
from stance.gate.judge import GateResult, SplitJudgement

SUMMARY_MD = "summary.md"
JUNIT_XML = "junit.xml"
GATE_METRICS_JSON = "metrics.json"
GATE_REPORT_HTML = "report.html"
PICTURES = (CONFUSION_PNG, RELIABILITY_PNG)


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return ""
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _ci(c: Check) -> str:
    return "" if c.low is None or c.high is None else f"[{c.low:+.4f}, {c.high:+.4f}]"


def _code(text: str) -> str:
    return text.replace("`", "'")  # a backtick would end the code span


def _check_row(c: Check) -> list[str]:
    verdict = "pass" if c.passed else "**FAIL**"
    return [c.split, c.name.replace("|", "\\|"), _num(c.baseline), _num(c.value), _num(c.delta, signed=True), _ci(c),
            _num(c.p_value), verdict]


def _split_lines(s: SplitJudgement, alpha: float) -> list[str]:
    lines = [f"### {s.split}", "",
             " · ".join(f"[{p.removesuffix('.png').replace('_', ' ')}]({s.split}/{p})" for p in PICTURES), ""]
    if s.comparison is not None:
        lines += actor_drop_lines(s.comparison, alpha, level=4)
    return lines


def summary_markdown(result: GateResult) -> str:
    """Old, new, change, interval and verdict per check; the failures spelt out; pictures linked."""
    status = "PASS" if result.passed else "FAIL"
    against = f" against baseline {result.baseline}" if result.baseline else ""
    lines = [f"## stance quality gate: {status}", "",
             f"Version **{result.version}**, gate `{result.gate}`{against}. Changes are new - baseline; "
             f"intervals are 95% paired-bootstrap intervals, p the bootstrap's two-sided p-value "
             f"(significance level {result.alpha}).", "",
             *table(["split", "check", "baseline", "new", "change", "95% CI", "p", "verdict"],
                    [_check_row(c) for c in result.checks]), ""]
    if result.failures:
        # Code spans: the messages read the same in the log and on the page, with no markdown escapes.
        lines += ["**Failed checks:**", "", *[f"- `{_code(c.message)}`" for c in result.failures], ""]
    for s in result.splits:
        lines += _split_lines(s, result.alpha)
    lines.append(result.verdict_line())
    return "\n".join(lines) + "\n"


def junit_xml(result: GateResult) -> str:
    """One ``<testcase>`` per check (classname ``stance.gate.<split>``); a failure carries its numbers."""
    suite = ET.Element("testsuite", name=f"stance quality gate ({result.gate})", tests=str(len(result.checks)),
                       failures=str(len(result.failures)), errors="0", skipped="0")
    for c in result.checks:
        case = ET.SubElement(suite, "testcase", classname=f"stance.gate.{c.split}", name=c.name, time="0")
        if not c.passed:
            failure = ET.SubElement(case, "failure", message=c.message, type="QualityRegression")
            failure.text = json.dumps(c.as_dict(), indent=2)
    root = ET.Element("testsuites", name="stance", tests=suite.get("tests"), failures=suite.get("failures"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _split_metrics(s: SplitJudgement) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"{s.split}/{m}": s.report["metrics"].get(m) for m in METRIC_NAMES}
    for label, scores in s.report["metrics"].get("per_class", {}).items():
        out[f"{s.split}/f1/{label}"] = scores.get("f1")
    out[f"{s.split}/ece"] = (s.report.get("calibration") or {}).get("ece")
    return out


def _split_deltas(s: SplitJudgement) -> dict[str, dict[str, Any]]:
    if s.comparison is None:
        return {}
    keep = ("a", "b", "delta", "low", "high", "p_value")
    out = {f"{s.split}/{m}": {k: s.comparison[m][k] for k in keep} for m in METRIC_NAMES}
    for label, d in s.comparison["per_class_f1"].items():
        out[f"{s.split}/f1/{label}"] = {k: d[k] for k in keep}
    return out


def dashboard_json(result: GateResult) -> str:
    metrics, deltas = {}, {}
    for s in result.splits:
        metrics.update(_split_metrics(s))
        deltas.update(_split_deltas(s))
    body = {"version": result.version, "baseline": result.baseline, "gate": result.gate,
            "verdict": "pass" if result.passed else "fail", "metrics": metrics, "deltas": deltas,
            "checks": [c.as_dict() for c in result.checks]}
    return json.dumps(body, indent=2) + "\n"


def html_report(result: GateResult, summary: str) -> str:
    sections: list[tuple[str, Path]] = [(summary, Path("."))]
    for s in result.splits:
        report_md = s.folder / REPORT_MD
        if report_md.is_file():
            sections.append((report_md.read_text(encoding="utf-8"), s.folder))
        if s.comparison is not None:
            sections.append((render_comparison(s.comparison, result.alpha), s.folder))
    return html_page(f"stance quality gate: {result.version}", sections)


def split_files(s: SplitJudgement, out: Path, alpha: float) -> dict[Path, str | bytes]:
    files: dict[Path, str | bytes] = {out / s.split / p: (s.folder / p).read_bytes()
                                      for p in PICTURES if (s.folder / p).is_file()}
    if s.comparison is not None:
        md, js = comparison_paths(out / s.split, s.comparison["baseline"])
        files[md] = render_comparison(s.comparison, alpha) + "\n"
        files[js] = json.dumps(s.comparison, indent=2) + "\n"
    return files


def write_outputs(result: GateResult, out: Path, junit: Path | None = None) -> dict[str, Path]:
    """Write every output; returns them by name. Appends the summary to ``$GITHUB_STEP_SUMMARY`` when set."""
    out = Path(out)
    summary = summary_markdown(result)
    paths = {"summary": out / SUMMARY_MD, "junit": Path(junit) if junit else out / JUNIT_XML,
             "metrics": out / GATE_METRICS_JSON, "html": out / GATE_REPORT_HTML}
    files: dict[Path, str | bytes] = {paths["summary"]: summary, paths["junit"]: junit_xml(result),
                                      paths["metrics"]: dashboard_json(result),
                                      paths["html"]: html_report(result, summary)}
    for s in result.splits:
        files.update(split_files(s, out, result.alpha))
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_files_atomic(files)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:  # GitHub's contract: append markdown
            fh.write(summary)
    return paths
