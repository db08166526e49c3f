"""Issue 5: the CI quality gate passes a good model, fails a broken one, and says why it cannot judge."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from stance.evaluation.report import METRICS_JSON, ReportSettings, write_report

from .test_report import shuffled_predictions, synthetic_rows

ROOT = Path(__file__).resolve().parents[1]
GATE = ROOT / "scripts" / "quality_gate.py"
COMMITTED_FLOOR = ROOT / "benchmarks" / "quality_floor.json"


def load_gate():
    spec = importlib.util.spec_from_file_location("quality_gate", GATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gate = load_gate()


def write_floor(path: Path, floor, key: str = "toy/test_rw") -> Path:
    path.write_text(json.dumps({"metric": "macro_f1", "floors": {key: {"floor": floor}}}))
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """metrics.json of a good model and of the same model with its predictions shuffled."""
    root = tmp_path_factory.mktemp("gate")
    good_rows = synthetic_rows(100, accuracy=0.85, seed=11)
    settings = ReportSettings(n_resamples=200)
    meta = {"version": "v0001", "data": "toy", "split": "test_rw"}
    good = write_report(root / "good" / "test_rw", good_rows, meta, settings)
    broken_rows = shuffled_predictions(good_rows, seed=0)
    broken = write_report(root / "broken" / "test_rw", broken_rows, meta, settings)
    assert good["metrics"]["macro_f1"] > 0.8 and broken["metrics"]["macro_f1"] < 0.5
    return {name: root / name / "test_rw" / METRICS_JSON for name in ("good", "broken")}


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GATE), *args], capture_output=True, text=True, timeout=60)


def test_good_model_passes_and_shuffled_predictions_fail_the_gate(reports, tmp_path):
    floor = write_floor(tmp_path / "floor.json", 0.7)
    good = run_script("check", "--metrics", str(reports["good"]), "--floor", str(floor))
    assert good.returncode == 0, good.stderr
    assert "# Evaluation report: v0001 on toy / test_rw" in good.stdout  # the markdown report is printed
    assert "quality gate: PASS" in good.stdout
    broken = run_script("check", "--metrics", str(reports["broken"]), "--floor", str(floor))
    assert broken.returncode == 1, broken.stderr
    assert "quality gate: FAIL: macro_f1" in broken.stdout and "< floor 0.7000 (toy/test_rw)" in broken.stdout


def test_the_gate_reads_a_version_folder_in_a_registry(reports, tmp_path):
    version = tmp_path / "registry" / "v0003"
    (version / "eval").mkdir(parents=True)
    (version / "manifest.json").write_text("{}")
    (version / "eval" / "test_rw").symlink_to(reports["good"].parent)
    (tmp_path / "registry" / "latest").symlink_to("v0003")
    floor = write_floor(tmp_path / "floor.json", 0.7)
    args = ["check", "--registry", str(tmp_path / "registry"), "--split", "test_rw", "--floor", str(floor),
            "--quiet"]
    assert gate.main(args) == 0
    assert gate.main([*args[:-1], "--version", "v0009", "--quiet"]) == 2


def test_the_floor_is_inclusive(reports, tmp_path):
    value = json.loads(reports["good"].read_text())["metrics"]["macro_f1"]
    assert gate.main(["check", "--metrics", str(reports["good"]), "--quiet",
                      "--floor", str(write_floor(tmp_path / "f.json", value))]) == 0
    assert gate.main(["check", "--metrics", str(reports["good"]), "--quiet",
                      "--floor", str(write_floor(tmp_path / "f.json", value + 1e-4))]) == 1


@pytest.mark.parametrize(("floor_file", "message"), [
    ({"metric": "macro_f1", "floors": {"other/test": {"floor": 0.5}}}, "no floor for 'toy/test_rw'"),
    ({"metric": "macro_f1", "floors": {"toy/test_rw": {"floor": None}}}, "must be a number in [0, 1]"),
    ({"metric": "macro_f1", "floors": {"toy/test_rw": {"floor": 1.5}}}, "must be a number in [0, 1]"),
    ({"metric": "recall_at_7", "floors": {"toy/test_rw": {"floor": 0.5}}}, "metrics.recall_at_7 is missing"),
])
def test_the_gate_cannot_judge_without_a_valid_floor(reports, tmp_path, capsys, floor_file, message):
    path = tmp_path / "floor.json"
    path.write_text(json.dumps(floor_file))
    assert gate.main(["check", "--metrics", str(reports["good"]), "--floor", str(path), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_missing_metrics_cannot_be_judged(tmp_path, capsys):
    floor = write_floor(tmp_path / "floor.json", 0.5)
    assert gate.main(["check", "--metrics", str(tmp_path / "nope.json"), "--floor", str(floor)]) == 2
    assert "no metrics.json" in capsys.readouterr().err


def test_floor_is_proposed_from_measured_runs_and_never_silently_lowered(tmp_path, capsys):
    runs = []
    for i, value in enumerate([0.62, 0.64, 0.66]):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"data": "toy", "split": "test_rw", "version": f"v000{i}",
                                    "metrics": {"macro_f1": value}}))
        runs.append(str(path))
    floor = tmp_path / "floor.json"
    # mean 0.64, sd 0.02: 3 sd below the mean is 0.58 (below the worst run minus 0.01).
    assert gate.main(["floor", "--metrics", *runs, "--floor", str(floor), "--write", "--note", "toy"]) == 0
    entry = json.loads(floor.read_text())["floors"]["toy/test_rw"]
    assert entry["floor"] == 0.58 and entry["mean"] == 0.64 and entry["sd"] == 0.02
    assert [r["macro_f1"] for r in entry["runs"]] == [0.62, 0.64, 0.66]
    # A noisier measurement would lower it: refused without --allow-lower.
    lower = ["floor", "--metrics", runs[0], runs[2], "--floor", str(floor), "--write", "--k", "5"]
    assert gate.main(lower) == 2
    assert "below the committed 0.580" in capsys.readouterr().err
    # One run gives no estimate of the noise.
    assert gate.main(["floor", "--metrics", runs[0], "--floor", str(floor)]) == 2


def test_committed_floor_file_is_well_formed():
    floors = json.loads(COMMITTED_FLOOR.read_text())
    assert floors["metric"] == "macro_f1"
    for key, entry in floors["floors"].items():
        assert key.count("/") == 1
        assert entry["floor"] is None or 0 <= entry["floor"] <= 1
