"""The commands as a user runs them, on each hostile input and config mistake of issue 12:
exactly one ``error:`` line on stderr, exit 2, never a traceback. Also: predictions never
hold NaN, and outputs are readable by others (0644), whatever the umask."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from stance.config import PredictJob
from stance.errors import CheckpointError
from stance.model import Encoding, load_tokenizer, predict_proba
from stance.predict import run_prediction
from stance.predict.backends import load_predictor
from stance.predict.documents import Document
from stance.predict.finder import ActorFinder
from stance.predict.run import predict_documents

from .test_hostile_input import HOSTILE_LINES

BIN = Path(sys.executable).parent
GOOD_ROW = {"id": "s1", "doc": "d1", "sentence": "Ann spoke.",
            "targets": [{"from": 0, "to": 3, "mention": "Ann", "label": "favor"}]}


def run(command: str, *args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([str(BIN / command), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, input=stdin)


def assert_user_error(result: subprocess.CompletedProcess, pattern: str = "") -> str:
    """Exit 2, exactly one ``error:`` line, no traceback; returns that line."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert pattern in errors[0], errors[0]
    return errors[0]


# ---------------------------------------------------------------- stance-prepare


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lone surrogate", "deep nesting", "huge integer"])
def test_prepare_refuses_each_hostile_line_in_one_error(tmp_path, case):
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD_ROW) + "\n" + HOSTILE_LINES[case] + "\n")
    result = run("stance-prepare", "data=spans_jsonl", f"data.path={tmp_path}", "data.split.validation=0",
                 "data.eval_splits=[]", "~data.files.test", f"prepared_root={tmp_path}/prepared", cwd=tmp_path)
    assert_user_error(result, "1 problem(s) in 1 row(s)")
    assert "  train.jsonl:2: " in result.stderr
    assert not (tmp_path / "prepared").exists() or not any((tmp_path / "prepared").iterdir())


@pytest.mark.slow
def test_prepare_names_a_folder_given_as_a_file_and_refuses_a_blank_actor(tmp_path):
    (tmp_path / "train.jsonl").mkdir()
    base = ["data=spans_jsonl", f"data.path={tmp_path}", "data.split.validation=0", "data.eval_splits=[]",
            "~data.files.test", f"prepared_root={tmp_path}/prepared"]
    assert_user_error(run("stance-prepare", *base, cwd=tmp_path), "is a folder, not a file")
    (tmp_path / "train.jsonl").rmdir()
    row = {**GOOD_ROW, "targets": [{**GOOD_ROW["targets"][0], "actor": " "}]}
    (tmp_path / "train.jsonl").write_text(json.dumps(row) + "\n")
    result = run("stance-prepare", *base, "data.fields.actor=actor", cwd=tmp_path)
    assert_user_error(result)
    assert "train.jsonl:1: targets[0].actor: blank actor name" in result.stderr


# ---------------------------------------------------------------- stance-train config mistakes


@pytest.mark.slow
@pytest.mark.parametrize("override,key", [
    ("train.lerning_rate=1e-4", "train.lerning_rate"), ("data=nope", "data=nope"),
    ("model.name_or_path=/nonexistent", "model.name_or_path"), ("train.batch_size=0", "train.batch_size"),
    ("train.learning_rate=-1", "train.learning_rate"), ("data.labels=[]", "data.labels"),
    ("train.warmup=1.5", "train.warmup"), ("model.dropout=-0.1", "model.dropout"),
])
def test_train_refuses_each_config_mistake_in_one_line_before_any_work(tmp_path, override, key):
    result = run("stance-train", "debug=tiny", override, f"prepared_root={tmp_path}/prepared",
                 f"registry={tmp_path}/registry", cwd=tmp_path)
    assert_user_error(result, key)
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "registry").exists()
    assert not (tmp_path / "outputs").exists()  # Hydra never started a run


@pytest.mark.slow
def test_hydra_flags_still_work_beside_the_check(tmp_path):
    cfg = run("stance-train", "--cfg", "job", "debug=tiny", "train.batch_size=4", "hydra.run.dir=x", cwd=tmp_path)
    assert cfg.returncode == 0 and "batch_size: 4" in cfg.stdout, cfg.stderr
    assert run("stance-train", "--help", cwd=tmp_path).returncode == 0
    assert_user_error(run("stance-train", "--cfg", "job", "train.batch_size=0", cwd=tmp_path), "train.batch_size")
    # -m: every value of a sweep is checked before the first job runs.
    sweep = run("stance-train", "-m", "debug=tiny", "train.batch_size=4,0", f"registry={tmp_path}/registry",
                f"hydra.sweep.dir={tmp_path}/multirun", cwd=tmp_path)
    assert_user_error(sweep, "train.batch_size=0")
    assert not (tmp_path / "registry").exists()
    # --config-dir: a user's folder of configs is composed and checked as Hydra will run it.
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "mine.yaml").write_text("name: mine\npath: here\nfiles: {train: t.jsonl}\n"
                                                          "labels: [favor]\n")
    mine = run("stance-prepare", "--config-dir", str(tmp_path / "conf"), "data=mine", cwd=tmp_path)
    assert_user_error(mine, "data.labels=['favor']")


# ---------------------------------------------------------------- stance-predict


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lone surrogate", "deep nesting", "huge integer"])
def test_predict_refuses_each_hostile_line_in_one_error(tiny_version, tmp_path, case):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Ann met Bob."}\n' + HOSTILE_LINES[case].replace('"sentence"', '"text"') + "\n")
    result = run("stance-predict", "--version", str(tiny_version), "--actors", "Ann", str(path),
                 "--out", str(tmp_path / "out.jsonl"), cwd=tmp_path)
    assert_user_error(result, f"{path}:2: ")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow
def test_predict_reads_raw_line_separators_and_prints_valid_json(tiny_version, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text": "Ann\u2028met Bob.\u0085 Ann\u2029left."}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    result = run("stance-predict", "--version", str(tiny_version), "--actors", "Ann", "--out", "-", str(path),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in output")) for line in
            result.stdout.splitlines() if line.strip()]
    assert rows and {r["actor"] for r in rows} == {"Ann"}


def nan_checkpoint(version: Path, folder: Path) -> Path:
    """A copy of ``version`` whose weights are all NaN, as a diverged run leaves them (no manifest)."""
    shutil.copytree(version, folder, ignore=shutil.ignore_patterns("manifest.json", "eval", "onnx"))
    folder.chmod(0o755)
    for p in folder.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    weights = load_file(folder / "model.safetensors")
    save_file({k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in weights.items()},
              folder / "model.safetensors", metadata={"format": "pt"})
    return folder


@pytest.mark.slow
def test_predict_stops_on_non_finite_probabilities_naming_the_version(tiny_version, tmp_path):
    broken = nan_checkpoint(tiny_version, tmp_path / "broken")
    text = tmp_path / "a.txt"
    text.write_text("Ann met Bob in Rome.\n")
    result = run("stance-predict", "--version", str(broken), "--backend", "torch", "--actors", "Ann",
                 "--out", "-", str(text), cwd=tmp_path)
    assert_user_error(result, "version broken")
    assert "NaN" not in result.stdout


def test_predictions_never_hold_nan(tiny_version):
    predictor = load_predictor(tiny_version, "torch", None, 1)
    model = copy.deepcopy(predictor.runner)  # the loaded predictor is cached and shared
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan)
    tokenizer, encoding = load_tokenizer(str(tiny_version)), Encoding.from_pretrained_config(model.config)

    def classify(sentences, batch_size=64, progress=False):
        return predict_proba(model, tokenizer, encoding, sentences, batch_size, progress)

    broken = dataclasses.replace(predictor, classify=classify, runner=model)
    doc = Document("d", "Ann met Bob in Rome.", "d.txt")
    finder = ActorFinder("none", ["Ann"])
    rows, _ = predict_documents(predictor, [doc], finder, PredictJob().segmentation)
    assert rows and all(math.isfinite(p) for r in rows for p in r["probs"].values())
    with pytest.raises(CheckpointError, match=rf"^version {tiny_version.name} .*non-finite probabilities"):
        predict_documents(broken, [doc], finder, PredictJob().segmentation)


# ---------------------------------------------------------------- permissions


def test_outputs_are_readable_by_others_whatever_the_umask(tiny_version, tmp_path):
    article = tmp_path / "a.txt"
    article.write_text("Ann met Bob in Rome.\n")
    outputs = {"out": tmp_path / "rows.jsonl", "csv": tmp_path / "rows.csv", "summary": tmp_path / "docs.json"}
    job = PredictJob(version=str(tiny_version), registry=str(tiny_version.parent), inputs=[str(article)],
                     actors=["Ann"], alias_table="none", threads=1, progress=False, table=False,
                     **{k: str(v) for k, v in outputs.items()})
    old = os.umask(0o077)
    try:
        run_prediction(job)
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in outputs.values()} == dict.fromkeys(
        [p.name for p in outputs.values()], 0o644)
    # A version's folders and its evaluation outputs (written by stance-train) are readable by others too.
    for path in [tiny_version, *tiny_version.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o055 if path.is_dir() else 0o044
        assert mode & wanted == wanted, f"{path}: {oct(mode)}"


# ---------------------------------------------------------------- issue 27: outputs, signals, sizes


ARTICLE = "Brazil welcomed the ceasefire brokered by Qatar, while Venezuela accused Washington of sabotage.\n"


@pytest.mark.parametrize("flags, pattern", [
    (["--out", "{tmp}/x.jsonl", "--csv", "{tmp}/x.jsonl"], "--csv and --out both name"),
    (["--out", "{tmp}/a.txt"], "is an input file"),
    (["--summary", "{tmp}"], "is a folder"),
    (["--out", "{tmp}/missing/x.jsonl"], "does not exist"),
    (["--export", "label-studio", "{tmp}/x.jsonl", "--exclude", "{tmp}/x.jsonl"], "is an --exclude file"),
])
def test_predict_refuses_colliding_or_impossible_outputs_before_any_work(tiny_version, tmp_path, flags, pattern):
    (tmp_path / "a.txt").write_text(ARTICLE)
    (tmp_path / "x.jsonl").write_text("old\n")
    args = [f.format(tmp=tmp_path) for f in flags]
    result = run("stance-predict", str(tmp_path / "a.txt"), "--version", str(tiny_version), *args, cwd=tmp_path)
    assert_user_error(result, pattern)
    assert (tmp_path / "a.txt").read_text() == ARTICLE and (tmp_path / "x.jsonl").read_text() == "old\n"


def test_predict_on_an_unwritable_output_is_one_line_exit_1(tiny_version, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE)
    result = run("stance-predict", str(tmp_path / "a.txt"), "--version", str(tiny_version), "--out",
                 "/proc/version", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_sentence_with_too_many_mentions_is_one_line(tiny_version, tmp_path):
    from stance.predict.api import MAX_MENTIONS_PER_SENTENCE

    (tmp_path / "a.txt").write_text(" ".join(["China"] * (MAX_MENTIONS_PER_SENTENCE + 1)) + ".\n")
    result = run("stance-predict", str(tmp_path / "a.txt"), "--version", str(tiny_version), cwd=tmp_path)
    assert_user_error(result, f"more than the {MAX_MENTIONS_PER_SENTENCE}")


def test_mentions_cost_linear_time_in_one_sentence(tiny_version):
    """Token spans by binary search: 4x the mentions cost well under 16x the encoding time (issue 27)."""
    import time

    from stance.model import InputBuilder, SentenceTargets, TargetSpec, encode_sentences

    builder = InputBuilder(load_tokenizer(str(tiny_version)), Encoding("marker", "span", False,
                                                                         ("[unused0]", "[unused1]"), 64))

    def cost(n: int) -> float:
        text = " ".join(["China"] * n)
        targets = [TargetSpec(6 * i, 6 * i + 5, "China") for i in range(n)]
        started = time.perf_counter()
        encode_sentences(builder, [SentenceTargets(text, targets)])
        return time.perf_counter() - started

    cost(50)  # warm up
    small, large = min(cost(250) for _ in range(3)), min(cost(1000) for _ in range(3))
    assert large / small < 10, (small, large)  # quadratic would be ~16


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [("INT", 130), ("TERM", 143)])
def test_predict_stopped_by_a_signal_is_one_line_and_writes_nothing(tiny_version, tmp_path, signum, code):
    import signal

    (tmp_path / "big.txt").write_text(ARTICLE * 20000)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([str(BIN / "stance-predict"), str(tmp_path / "big.txt"), "--version", str(tiny_version),
                             "--backend", "torch", "--out", str(tmp_path / "rows.jsonl"), "--csv",
                             str(tmp_path / "rows.csv"), "--no-table", "--progress"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Signal at the classifying bar's first advance, not after a fixed sleep: a fixed sleep raced the
    # output block on a faster machine (CI: the stop landed while the files were being written, which
    # by design finishes them). Not at the bar's first drawing either: that is printed as the bar is
    # made, a moment before the loop that closes it on a stop, and under load the stop landed there.
    # Classifying 80,000 pairs takes about a second here.
    seen = b""
    while not re.search(rb"classifying: +\d+%\|[^|]*\| *[1-9]\d*/", seen):
        chunk = proc.stderr.read1(4096)
        assert chunk, f"stance-predict ended before classifying: {seen[-2000:]!r}"
        seen += chunk
    proc.send_signal(getattr(signal, f"SIG{signum}"))
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    err = (seen + rest).decode(errors="replace")
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [f"error: stopped by SIG{signum}"]
    assert not list(tmp_path.glob("rows*")) and not list(tmp_path.glob("*.tmp"))


def test_a_stop_inside_the_output_block_waits_for_it():
    """The outputs are one deferred block: a signal inside it is acted on after every file is in place."""
    import signal

    from stance.errors import RunInterrupted
    from stance.signals import StopRequests

    finished = []
    with StopRequests(immediate=True).installed() as stop:
        with pytest.raises(RunInterrupted) as caught:
            with stop.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                finished.append("all files renamed")
        assert finished == ["all files renamed"] and caught.value.exit_code == 143
