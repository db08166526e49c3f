"""Issue 24: the quality gate judges an evaluation against a spec and a baseline, and writes what CI shows.

Pass, fail on the floor, fail on a significant drop, pass on an insignificant
drop, fail naming a degraded class, and "cannot judge" (exit 2, one line). The
candidates and baselines are synthetic predictions of our own sentences.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stance.cli.common import check_overrides
from stance.config import EvaluateJob, GateConfig, MetricCheck, SplitGate
from stance.errors import ConfigError, StanceError
from stance.evaluation.predictions import (
    PREDICTIONS_JSONL,
    anonymised,
    read_predictions,
    write_predictions,
)
from stance.evaluation.report import ReportSettings, write_report
from stance.gate.baseline import GateError
from stance.gate.judge import judge
from stance.gate.outputs import write_outputs
from stance.gate.spec import GATE_GROUP, load_spec

from .test_report import row, shuffled_predictions, synthetic_rows

ROOT = Path(__file__).resolve().parents[1]
GATE = ROOT / "scripts" / "quality_gate.py"
COMMITTED_BASELINE = ROOT / "benchmarks" / "gate" / "newsmtsc_test_rw.jsonl"


def load_script():
    spec = importlib.util.spec_from_file_location("quality_gate", GATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


def evaluation(root: Path, rows: list[dict], version: str = "v0002", split: str = "test") -> Path:
    """An evaluation folder as the pipeline leaves it: <split>/ with predictions.jsonl and the report."""
    write_report(root / split, rows, {"version": version, "data": "toy", "split": split},
                 ReportSettings(n_resamples=200))
    write_predictions(root / split / PREDICTIONS_JSONL, rows)
    return root


def degrade_class(rows: list[dict], label: str, to: str, share: float, seed: int = 0) -> list[dict]:
    """A worse model on one class: a share of the pairs it got right on ``label`` now say ``to``."""
    rng = random.Random(seed)
    out = []
    for r in rows:
        if r["gold"] == label and r["pred"] == label and rng.random() < share:
            r = {**r, "pred": to}
        out.append(r)
    return out


def flip_right_answers(rows: list[dict], n: int) -> list[dict]:
    """Slightly worse: ``n`` right answers become wrong (a change within the noise)."""
    out, flipped = [], 0
    for r in rows:
        if flipped < n and r["pred"] == r["gold"]:
            r = {**r, "pred": next(lab for lab in r["probs"] if lab != r["gold"])}
            flipped += 1
        out.append(r)
    return out


def spec(threshold: float | None = None, max_drop: float | None = 0.0, significant: bool = True,
         class_drop: float | None = 0.05, max_ece: float | None = None) -> GateConfig:
    rules = SplitGate(metrics={"macro_f1": MetricCheck(threshold, max_drop, significant)},
                      per_class_f1=MetricCheck(None, class_drop, True), max_ece=max_ece)
    return GateConfig(name="toy", splits={"test": rules}, n_resamples=500)


@pytest.fixture(scope="module")
def base_rows() -> list[dict]:
    return synthetic_rows(400, accuracy=0.8, seed=11)


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory, base_rows) -> Path:
    return evaluation(tmp_path_factory.mktemp("baseline"), base_rows, version="v0001")


def gate_of(gate: GateConfig, candidate: Path, baseline: Path | None):
    rows = read_predictions(baseline / "test" / PREDICTIONS_JSONL) if baseline else None
    return judge(gate, candidate, "v0002", "v0001" if baseline else None,
                 (lambda split, _: rows) if baseline else None)


# ---------------------------------------------------------------- verdicts


def test_the_same_model_passes(tmp_path, base_rows, baseline_dir):
    result = gate_of(spec(threshold=0.7), evaluation(tmp_path, base_rows), baseline_dir)
    assert result.passed and result.exit_code == 0
    assert len(result.checks) == 1 + 1 + 3  # floor, macro-F1 drop, F1 drop of each class
    drop = next(c for c in result.checks if c.name.startswith("macro-F1: drop"))
    assert drop.delta == 0 and drop.p_value == 1


def test_a_model_below_the_floor_fails_with_its_numbers(tmp_path, base_rows, baseline_dir):
    value = json.loads((baseline_dir / "test" / "metrics.json").read_text())["metrics"]["macro_f1"]
    result = gate_of(spec(threshold=value + 1e-4, max_drop=None, class_drop=None),
                     evaluation(tmp_path, base_rows), None)
    assert result.exit_code == 1
    assert result.failures[0].message == f"test: macro-F1 {value:.4f} < floor {value + 1e-4:.4f}"
    # The floor is inclusive.
    assert gate_of(spec(threshold=value, max_drop=None, class_drop=None), tmp_path, None).passed


def test_a_significant_drop_fails(tmp_path, base_rows, baseline_dir):
    worse = shuffled_predictions(base_rows, seed=0)
    result = gate_of(spec(), evaluation(tmp_path, worse), baseline_dir)
    assert result.exit_code == 1
    failed = next(c for c in result.failures if c.name.startswith("macro-F1"))
    assert failed.p_value < 0.05 and failed.high < 0
    assert "significant at 0.05" in failed.message and failed.message.endswith("REGRESSION")


def test_an_insignificant_drop_passes_unless_significance_is_waived(tmp_path, base_rows, baseline_dir):
    slightly_worse = flip_right_answers(base_rows, 4)
    candidate = evaluation(tmp_path, slightly_worse)
    result = gate_of(spec(class_drop=None), candidate, baseline_dir)
    drop = result.checks[0]
    assert drop.delta < 0 and drop.p_value >= 0.05
    assert result.passed, [c.message for c in result.failures]
    # The same drop fails when any drop beyond max_drop counts, significant or not.
    strict = gate_of(spec(significant=False, class_drop=None), candidate, baseline_dir)
    assert strict.exit_code == 1 and "significance not required" in strict.failures[0].message


def test_a_degraded_class_fails_with_a_message_naming_the_class(tmp_path, base_rows, baseline_dir):
    worse = degrade_class(base_rows, "favor", "neutral", share=0.4)
    result = gate_of(spec(max_drop=None), evaluation(tmp_path, worse), baseline_dir)
    assert result.exit_code == 1
    # Neutral's precision suffers too (it gets the wrong answers), but favor's F1 falls furthest.
    worst = min(result.failures, key=lambda c: c.delta)
    assert worst.name == "F1 of class 'favor': drop vs baseline <= 0.0500"
    assert worst.message.startswith("test: F1 of class 'favor'") and worst.message.endswith("REGRESSION")


def test_an_ece_ceiling_is_checked(tmp_path, base_rows):
    candidate = evaluation(tmp_path, base_rows)
    ece = json.loads((candidate / "test" / "metrics.json").read_text())["calibration"]["ece"]
    assert gate_of(spec(max_drop=None, class_drop=None, max_ece=ece), candidate, None).passed
    low = gate_of(spec(max_drop=None, class_drop=None, max_ece=ece / 2), candidate, None)
    assert low.exit_code == 1 and "expected calibration error" in low.failures[0].message


def test_an_anonymised_baseline_gives_the_same_verdict_and_numbers(tmp_path, base_rows, baseline_dir):
    worse = degrade_class(base_rows, "against", "favor", share=0.3)
    candidate = evaluation(tmp_path / "c", worse)
    full = gate_of(spec(), candidate, baseline_dir)
    anon_dir = tmp_path / "anon"
    (anon_dir / "test").mkdir(parents=True)
    write_predictions(anon_dir / "test" / PREDICTIONS_JSONL, anonymised(base_rows))
    anon = gate_of(spec(), candidate, anon_dir)
    assert [c.as_dict() for c in anon.checks] == [c.as_dict() for c in full.checks]
    assert not any("text" in r or "sentence_id" in r for r in read_predictions(anon_dir / "test" / PREDICTIONS_JSONL))


# ---------------------------------------------------------------- cannot judge


def test_a_baseline_scored_on_other_pairs_cannot_be_judged(tmp_path, base_rows, baseline_dir):
    candidate = evaluation(tmp_path, base_rows[:-5])
    with pytest.raises(GateError, match=r"^test: v0002 \(\d+ pairs\) and v0001 \(\d+ pairs\) were not scored"):
        gate_of(spec(), candidate, baseline_dir)


def test_a_split_that_was_not_evaluated_cannot_be_judged(tmp_path, base_rows):
    evaluation(tmp_path, base_rows, split="validation")
    with pytest.raises(GateError, match="the split was not evaluated"):
        gate_of(spec(max_drop=None, class_drop=None, threshold=0.5), tmp_path, None)


def test_a_drop_rule_without_a_baseline_cannot_be_judged(tmp_path, base_rows):
    with pytest.raises(GateError, match="checks drops against a baseline, and none was given"):
        gate_of(spec(), evaluation(tmp_path, base_rows), None)


# ---------------------------------------------------------------- stance-evaluate: refused before any work


def evaluate_job(*overrides: str, user_dir: Path | None = None) -> EvaluateJob:
    """The job ``stance-evaluate`` would run with these overrides, checked as its pre-check checks it."""
    return check_overrides("evaluate", EvaluateJob, list(overrides), user_dir=str(user_dir) if user_dir else None)[0]


def user_configs(tmp_path: Path, **specs: str) -> Path:
    """A user's --config-dir holding gate/<name>.yaml for each spec."""
    folder = tmp_path / "configs" / "gate"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in specs.items():
        (folder / f"{name}.yaml").write_text(body)
    return folder.parent


NOT_EVALUATED = "which this run does not evaluate (splits: {})"
USER_SPECS = {  # name: (spec, the one line stance-evaluate answers with)
    "typo": ("name: typo\nsplits: {tset: {max_ece: 0.2}}\n",
             "gate=typo checks split 'tset', " + NOT_EVALUATED.format("test, test_hard, test_hard2")),
    "empty": ("name: empty\nsplits: {}\n", "gate=empty has no split to check (gate.splits is empty)"),
    "nocheck": ("name: nocheck\nsplits: {test: {metrics: {macro_f1: {significant: true}}}}\n",
                "gate.splits.test has no check"),
    # Without name: the spec would read as the empty gate, and every message would say gate=none.
    "noname": ("splits: {test: {max_ece: 0.2}}\n", "gate.name='none' names the empty gate, but this spec lists "
                                                     "splits; give the spec file its own name:"),
}


@pytest.mark.parametrize("overrides, message", [
    # gate=ci is for NewsMTSC's test_rw; the default data is world_affairs.
    (["gate=ci", "baseline=v0001"], "gate=ci checks split 'test_rw', " + NOT_EVALUATED.format(
        "test, test_hard, test_hard2")),
    # An earlier full evaluation left test/ in the evaluation folder: a run of test_hard alone must not judge it.
    (["gate=default", "baseline=v0001", "splits=[test_hard]"], "gate=default checks split 'test', "
     + NOT_EVALUATED.format("test_hard")),
    (["baseline=v0001"], "baseline=v0001 is the gate's baseline, but no gate is enabled (gate.splits is empty); "
                         "add gate=NAME"),
])
def test_a_gate_that_cannot_judge_this_run_is_refused_before_any_work(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate_job(*overrides)


@pytest.mark.parametrize("name", USER_SPECS)
def test_a_user_spec_that_checks_nothing_or_another_split_is_refused(tmp_path, name):
    body, message = USER_SPECS[name]
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate_job(f"gate={name}", "baseline=v0001", user_dir=user_configs(tmp_path, **{name: body}))
    path = str(tmp_path / "configs" / "gate" / f"{name}.yaml")
    if name == "noname":  # the script loads specs by path, and a file given by path is named by it
        assert load_spec(path).name == "noname"
    elif name != "typo":  # the same refusal
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_spec(path)


def test_the_command_refuses_a_gate_for_other_splits_in_one_line_writing_nothing(tmp_path):
    cmd = [sys.executable, "-m", "stance.cli.evaluate", "gate=ci", "baseline=v0001"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: gate=ci checks split 'test_rw', which this run does not evaluate")
    assert list(tmp_path.iterdir()) == []  # no Hydra outputs/, nothing prepared


def fake_registry(root: Path, *versions: str) -> Path:
    """Folders that resolve as versions (a manifest file), for checks that must stop before reading one."""
    for version in versions:
        (root / version).mkdir(parents=True)
        (root / version / "manifest.json").write_text("{}")
    return root


def refuse_work(*args, **kwargs):
    raise AssertionError("the work started before the error")


@pytest.mark.parametrize("baseline, message", [
    ("nonexist/path", "baseline=nonexist/path: no such file or folder"),
    ("nonexist.jsonl", "baseline=nonexist.jsonl: no such file or folder"),
    ("v0009", "baseline=v0009: no such file or folder, and version 'v0009' not found in registry {registry} "
              "(versions: v0001, v0002)"),
    ("README.md", "baseline: README.md:1: (row): not valid JSON"),
    ("folder", "baseline folder has no predictions for split 'test'"),
])
def test_a_bad_baseline_is_refused_before_the_data_is_prepared(tmp_path, monkeypatch, baseline, message):
    from stance import pipeline

    monkeypatch.setattr(pipeline, "prepare", refuse_work)
    monkeypatch.chdir(tmp_path)
    registry = fake_registry(tmp_path / "registry", "v0001", "v0002")
    (tmp_path / "README.md").write_text("# not a predictions file\n")
    (tmp_path / "folder").mkdir()
    job = evaluate_job(f"registry={registry}", "version=v0002", "gate=default", f"baseline={baseline}")
    with pytest.raises(StanceError, match=re.escape(message.format(registry=registry))):
        pipeline.run_evaluation(job)


def test_the_prepared_splits_are_checked_before_evaluating(tmp_path, monkeypatch):
    from stance import pipeline

    monkeypatch.setattr(pipeline, "evaluate_splits", refuse_work)
    # No data.eval_splits: the run evaluates every prepared split, known only once the data is prepared.
    job = evaluate_job(f"registry={fake_registry(tmp_path / 'registry', 'v0001')}", "version=v0001",
                       f"prepared_root={tmp_path}/prepared", "data.eval_splits=[]", "gate=typo",
                       user_dir=user_configs(tmp_path, typo=USER_SPECS["typo"][0]))
    with pytest.raises(ConfigError, match=r"gate=typo checks split 'tset', which this run does not evaluate "
                                          r"\(splits: train, validation, test, test_hard, test_hard2\)"):
        pipeline.run_evaluation(job)


def test_a_split_the_data_lacks_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    from stance import pipeline

    monkeypatch.setattr(pipeline, "evaluate_splits", refuse_work)
    job = evaluate_job(f"registry={fake_registry(tmp_path / 'registry', 'v0001')}", "version=v0001",
                       f"prepared_root={tmp_path}/prepared", "splits=[test,tset]")
    with pytest.raises(ConfigError, match=r"^splits=\[test,tset\]: data world_affairs has no split 'tset' "
                                          r"\(its splits: train, validation, test, test_hard, test_hard2\)$"):
        pipeline.run_evaluation(job)


def test_the_gate_judges_only_the_splits_this_run_evaluated(tmp_path, base_rows):
    from stance.pipeline import run_gate

    # test/ as an earlier run left it; this run evaluated test_hard only.
    out_dir = evaluation(tmp_path / "registry" / "v0002" / "evaluations" / "toy", base_rows)
    job = EvaluateJob(registry=str(tmp_path / "registry"), gate=spec(threshold=0.5, max_drop=None, class_drop=None))
    with pytest.raises(ConfigError, match=re.escape("checks split 'test', " + NOT_EVALUATED.format("test_hard"))):
        run_gate(job, out_dir, ["test_hard"])
    assert not (out_dir / "gate").exists()
    result, paths = run_gate(job, out_dir, ["test"])
    assert result.passed and paths["summary"].is_file()


def test_a_baseline_on_other_pairs_found_after_the_evaluation_writes_no_gate_output(tmp_path, base_rows):
    from stance.pipeline import run_gate

    out_dir = evaluation(tmp_path / "registry" / "v0002" / "evaluations" / "toy", base_rows)
    other = tmp_path / "other.jsonl"
    write_predictions(other, base_rows[:-5])
    job = EvaluateJob(registry=str(tmp_path / "registry"), gate=spec(), baseline=str(other))
    job.data.name = "toy"
    with pytest.raises(GateError, match="were not scored on the same"):
        run_gate(job, out_dir, ["test"])
    assert not (out_dir / "gate").exists()


# ---------------------------------------------------------------- the script: exit statuses and outputs


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GATE), *args], capture_output=True, text=True, timeout=120, env=env)


def write_spec(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


TOY_SPEC = """name: toy
splits:
  test:
    metrics:
      macro_f1: {threshold: 0.5, max_drop: 0.0}
    per_class_f1: {max_drop: 0.05}
"""


def test_the_script_exits_0_1_2_and_writes_junit_summary_metrics_and_html(tmp_path, base_rows, baseline_dir):
    gate_yaml = write_spec(tmp_path / "toy.yaml", TOY_SPEC)
    good = evaluation(tmp_path / "good", base_rows)
    worse = evaluation(tmp_path / "worse", degrade_class(base_rows, "favor", "neutral", share=0.4))
    common = ["--gate", str(gate_yaml), "--baseline", str(baseline_dir)]
    step_summary = tmp_path / "step_summary.md"
    env = {**__import__("os").environ, "GITHUB_STEP_SUMMARY": str(step_summary)}
    ok = run_script("check", "--results", str(good), *common, "--out", str(tmp_path / "out_ok"), env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-2].startswith("quality gate: PASS: 5 checks of gate toy hold for good")
    bad = run_script("check", "--results", str(worse), "--name", "v0002", *common, "--out", str(tmp_path / "out"),
                     "--junit", str(tmp_path / "junit.xml"), env=env)
    assert bad.returncode == 1, bad.stderr
    assert "- `test: F1 of class 'favor'" in bad.stdout and "REGRESSION" in bad.stdout

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert len(cases) == 5 and suite.get("failures") == str(len(failed))
    favor = failed["F1 of class 'favor': drop vs baseline <= 0.0500"]
    assert favor.get("message").startswith("test: F1 of class 'favor'") and "95% CI [" in favor.get("message")
    assert json.loads(favor.text)["p_value"] < 0.05

    summary = (tmp_path / "out" / "summary.md").read_text()
    assert summary.startswith("## stance quality gate: FAIL")
    assert "| split | check | baseline | new | change | 95% CI | p | verdict |" in summary
    assert "[confusion matrix](test/confusion_matrix.png)" in summary
    assert (tmp_path / "out" / "test" / "confusion_matrix.png").is_file()
    # Both runs appended their summary to GitHub's step summary.
    assert step_summary.read_text().count("## stance quality gate:") == 2

    dashboard = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert dashboard["verdict"] == "fail" and dashboard["baseline"] == baseline_dir.name
    assert dashboard["deltas"]["test/f1/favor"]["delta"] < 0 and "test/macro_f1" in dashboard["metrics"]
    check_self_contained_html(tmp_path / "out" / "report.html")


def test_the_script_cannot_judge_with_one_line(tmp_path, base_rows, baseline_dir, capsys):
    gate_yaml = write_spec(tmp_path / "toy.yaml", TOY_SPEC)
    other = evaluation(tmp_path / "other", synthetic_rows(50, accuracy=0.8, seed=3))
    cases = [
        (["--results", str(other), "--gate", str(gate_yaml), "--baseline", str(baseline_dir)],
         "not scored on the same"),
        (["--results", str(other), "--gate", str(gate_yaml)], "checks drops against a baseline"),
        (["--results", str(other), "--gate", "nope"], "no gate spec 'nope'"),
        (["--results", str(tmp_path / "none"), "--gate", str(gate_yaml), "--baseline", str(baseline_dir)],
         "the split was not evaluated"),
        (["--registry", str(tmp_path / "reg"), "--version", "v0009", "--gate", str(gate_yaml)], "v0009"),
        (["--results", str(other), "--gate", str(write_spec(tmp_path / "bad.yaml", "splits: {test: {max_ece: 2}}"))],
         "max_ece=2"),
        (["--results", str(other), "--gate", str(gate_yaml), "--baseline", "nonexist/path"],
         "--baseline nonexist/path: no such file or folder"),
        (["--results", str(other), "--gate", "none"], "--gate none has no split to check"),
    ]
    for args, message in cases:  # in this process: each subprocess would pay ~5 s of imports
        assert script.main(["check", *args, "--out", str(tmp_path / "o")]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("quality gate: cannot judge: ") and message in err, err
    # And as CI runs it: exit status 2 and one line, no traceback.
    result = run_script("check", *cases[0][0], "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and cases[0][1] in result.stderr
    assert not (tmp_path / "o").exists()  # nothing written when it cannot judge


def test_floor_is_proposed_from_measured_runs(tmp_path, capsys):
    runs = []
    for i, value in enumerate([0.62, 0.64, 0.66]):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"metrics": {"macro_f1": value}}))
        runs.append(str(path))
    # mean 0.64, sd 0.02: 3 sd below the mean is 0.58 (below the worst run minus 0.01).
    assert script.main(["floor", "--metrics", *runs]) == 0
    assert "in the gate spec: macro_f1: {threshold: 0.580}" in capsys.readouterr().out
    assert script.main(["floor", "--metrics", runs[0]]) == 2  # one run gives no estimate of the noise


# ---------------------------------------------------------------- the report page


class _Page(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.tags: set[str] = set()
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if tag != "a" and value and not value.startswith("data:"):
                self.external.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        assert tag in self.VOID, f"<{tag}/> is not a void element"
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        assert tag not in self.VOID, f"</{tag}> closes a void element"
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def check_self_contained_html(path: Path) -> _Page:
    """Well nested, every picture embedded as a PNG, nothing fetched from elsewhere, no script."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = _Page()
    page.feed(text)
    page.close()
    assert page.stack == [], page.stack
    assert {"table", "img", "h1", "style"} <= page.tags and "script" not in page.tags
    assert page.images and page.external == []
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    return page


def test_every_report_has_a_self_contained_html_page_that_escapes_the_data(tmp_path, base_rows):
    # Confident, so it is listed among the confident errors, with its text.
    hostile = row("sx", "t0", "Chile", 1, "against", "favor", [0.99, 0.005, 0.005],
                  text="<script>alert(1)</script> Chile said")
    rows = [hostile, *base_rows]
    evaluation(tmp_path, rows)
    page = check_self_contained_html(tmp_path / "test" / "report.html")
    assert len(page.images) == 2  # confusion matrix and reliability diagram
    assert "&lt;script&gt;" in (tmp_path / "test" / "report.html").read_text()


# ---------------------------------------------------------------- the committed specs and baseline


@pytest.mark.parametrize("name", sorted(p.stem for p in GATE_GROUP.glob("*.yaml")))
def test_every_shipped_gate_spec_loads_and_checks(name):
    gate = load_spec(name)
    assert gate.name == name


def test_a_bad_spec_value_is_one_line_naming_the_key(tmp_path):
    path = write_spec(tmp_path / "g.yaml", "splits: {test: {metrics: {macro_f1: {threshold: 1.5}}}}")
    with pytest.raises(ConfigError, match=r"gate.splits.test.metrics.macro_f1.threshold=1.5"):
        load_spec(str(path))
    path = write_spec(tmp_path / "h.yaml", "splits: {test: {metrics: {f2: {threshold: 0.5}}}}")
    with pytest.raises(ConfigError, match=r"gate.splits.test.metrics='f2'; expected one of"):
        load_spec(str(path))


def test_the_committed_ci_baseline_holds_no_text():
    rows = read_predictions(COMMITTED_BASELINE)
    assert len(rows) == 1146  # NewsMTSC devtest_rw's pairs
    assert {tuple(sorted(r)) for r in rows} == {("gold", "pair_sha256", "pred", "probs", "unit_sha256")}
    assert load_spec("ci").splits["test_rw"].metrics["macro_f1"].threshold == 0.741


# ---------------------------------------------------------------- stance-evaluate gate=... (slow: trains)


def stance_evaluate(tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "stance.cli.evaluate", f"registry={tmp}/registry",
           f"prepared_root={tmp}/prepared", "data=world_affairs", "splits=[test]", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp)


@pytest.mark.slow
def test_stance_evaluate_judges_a_version_against_a_baseline_version(make_job, tmp_path):
    from stance.pipeline import run_training

    run_training(make_job())
    run_training(make_job("seed=7"))
    gate_out = tmp_path / "gate-report"
    result = stance_evaluate(tmp_path, "version=v0002", "gate=default", "baseline=v0001", f"gate.out={gate_out}",
                             "gate.splits.test.max_ece=1")
    assert result.returncode in (0, 1), result.stderr
    verdict = "PASS" if result.returncode == 0 else "FAIL"
    assert f"quality gate: {verdict}: " in result.stdout
    dashboard = json.loads((gate_out / "metrics.json").read_text())
    assert dashboard["version"] == "v0002" and dashboard["baseline"] == "v0001"
    assert dashboard["verdict"] == verdict.lower()
    cases = list(ET.parse(gate_out / "junit.xml").getroot().iter("testcase"))
    assert len(cases) == len(dashboard["checks"]) == 2 + 3 + 1  # macro-F1 and accuracy drops, 3 classes, ECE
    check_self_contained_html(gate_out / "report.html")
    # A version is not its own baseline: refused before any work.
    same = stance_evaluate(tmp_path, "version=v0001", "gate=default", "baseline=v0001")
    assert same.returncode == 2 and "is the version being evaluated" in same.stderr
    # Cannot judge: a missing baseline version, or a drop rule without a baseline; one line each, exit 2.
    # A file that is not predictions, or a split this run does not evaluate (the earlier run's test/ is
    # still there): refused before the evaluation, which would rewrite test/metrics.json.
    (tmp_path / "README.md").write_text("# not predictions\n")
    scored = (tmp_path / "registry" / "v0002" / "evaluations" / "world_affairs" / "test" / "metrics.json").stat()
    for args, message in [(["baseline=v0009"], "version 'v0009' not found"),
                          ([], "pass baseline=VERSION"),
                          (["baseline=README.md"], "baseline: README.md:1: (row): not valid JSON"),
                          (["baseline=v0001", "splits=[test_hard]"],
                           "checks split 'test', which this run does not evaluate (splits: test_hard)")]:
        bad = stance_evaluate(tmp_path, "version=v0002", "gate=default", *args)
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    assert (tmp_path / "registry" / "v0002" / "evaluations" / "world_affairs" / "test" / "metrics.json"
            ).stat().st_mtime_ns == scored.st_mtime_ns


def test_the_actor_whose_answers_got_worse_is_listed_with_its_test(tmp_path, base_rows, baseline_dir):
    # Every right answer about Chile turns wrong: the per-actor table names Chile, and only actors that dropped.
    worse = [{**r, "pred": next(lab for lab in r["probs"] if lab != r["gold"])}
             if r["actor"] == "Chile" and r["pred"] == r["gold"] else r for r in base_rows]
    result = gate_of(spec(max_drop=None), evaluation(tmp_path, worse), baseline_dir)
    drops = [a for a in result.splits[0].comparison["per_actor"] if a["p_value"] < 0.05 and a["delta"] < 0]
    assert [a["actor"] for a in drops] == ["Chile"] and drops[0]["a"] == 0
    summary = write_outputs(result, tmp_path / "out")["summary"].read_text()
    assert "#### Actors with significant drops (McNemar, p < 0.05)" in summary
    assert "| Chile |" in summary
