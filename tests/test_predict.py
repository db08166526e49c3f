"""Issue 6: stance-predict end to end on a tiny trained version, its outputs, errors and backends."""

from __future__ import annotations

import csv
import json
import logging
import runpy
import shutil
import stat
import sys
from pathlib import Path

import pytest

from stance.cli.predict import main
from stance.config import ConfigError
from stance.files import sha256_file
from stance.model import SentenceTargets, TargetSpec
from stance.predict import (
    PredictJob,
    export_onnx,
    load_predictor,
    run_prediction,
)
from stance.registry import sealed

FIXTURES = Path(__file__).parent / "fixtures" / "articles"
ARTICLE = FIXTURES / "geneva_talks.txt"
REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {"doc_id", "sentence_index", "sentence_start", "sentence", "actor", "mention", "start", "end",
            "spans", "label", "probs"}

# (sentence index, actor, mention) the world-affairs table must find in the fixture article.
EXPECTED = [
    (0, "Russia", "Moscow"),
    (1, "United States", "United States"), (1, "Russia", "Russia"), (1, "Ukraine", "Ukraine"),
    (2, "United States", "Rubio"), (2, "United States", "U.S."),  # a named official (extra_hard.yaml)
    (3, "Russia", "Russia"),
    (4, "Ukraine", "Ukrainian"),
    (6, "Russia", "Kremlin"), (6, "NATO", "NATO"),
    (7, "China", "China"), (7, "China", "Beijing"), (7, "United States", "Washington"),
    (8, "European Union", "European Union"), (8, "Turkey", "Turkey"),
    (9, "UN Secretary-General", "Guterres"), (9, "UN Secretary-General", "UN Secretary-General"),
    (10, "United Nations", "U.N."),
]


def job(version: Path, tmp_path: Path, **kw) -> PredictJob:
    return PredictJob(version=str(version), registry=str(version.parent), inputs=[str(ARTICLE)], threads=1,
                      progress=False, table=False, **kw)


def test_article_rows_schema_and_spans(tiny_version, tmp_path):
    out, csv_path, summary = tmp_path / "rows.jsonl", tmp_path / "rows.csv", tmp_path / "docs.json"
    result = run_prediction(job(tiny_version, tmp_path, out=str(out), csv=str(csv_path),
                                summary=str(summary)))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == result.rows
    assert [(r["sentence_index"], r["actor"], r["mention"]) for r in rows] == EXPECTED
    text = ARTICLE.read_text(encoding="utf-8")
    labels = ["favor", "against", "neutral"]
    for r in rows:
        assert set(r) == ROW_KEYS and r["doc_id"] == "geneva_talks"
        assert r["sentence"][r["start"]:r["end"]] == r["mention"]  # offsets are into the sentence
        start = r["sentence_start"] + r["start"]
        assert text[start:start + len(r["mention"])] == r["mention"]  # and the sentence's into the document
        assert r["spans"] == [[r["start"], r["end"]]]
        assert list(r["probs"]) == labels and sum(r["probs"].values()) == pytest.approx(1, abs=1e-4)
        assert r["label"] == max(r["probs"], key=r["probs"].get)
    with open(csv_path, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and table[2]["mention"] == "Russia" and float(table[2]["p_favor"]) >= 0
    docs = json.loads(summary.read_text())
    assert docs["version"] == tiny_version.name and docs["n_pairs"] == len(rows)
    (doc,) = docs["documents"]
    assert doc["sentences"] == 11 and doc["actors"]["Russia"]["rows"] == 4
    russia = [r for r in rows if r["actor"] == "Russia"]
    counts = {n: sum(r["label"] == n for r in russia) for n in labels}
    assert doc["actors"]["Russia"]["counts"] == counts
    net = (counts["favor"] - counts["against"]) / 4
    assert doc["actors"]["Russia"]["net"] == pytest.approx(net, abs=1e-4)


def test_aggregate_mode_one_row_per_sentence_and_actor(tiny_version, tmp_path):
    each = run_prediction(job(tiny_version, tmp_path)).rows
    agg = run_prediction(job(tiny_version, tmp_path, mentions="aggregate")).rows
    # sentence 2 (Rubio and the U.S.), 7 (China twice) and 9 (the Secretary-General twice)
    assert len(agg) == len(each) - 3
    china = next(r for r in agg if r["sentence_index"] == 7 and r["actor"] == "China")
    parts = [r for r in each if r["sentence_index"] == 7 and r["actor"] == "China"]
    assert china["spans"] == [p["spans"][0] for p in parts]
    for label, p in china["probs"].items():
        assert p == pytest.approx(sum(x["probs"][label] for x in parts) / 2, abs=1e-5)


def test_only_given_actors_and_a_warning_for_missing_ones(tiny_version, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="stance.predict"):
        result = run_prediction(job(tiny_version, tmp_path, actors=["China", "nato", "Atlantis"]))
    assert {r["actor"] for r in result.rows} == {"China", "NATO"}
    assert result.missing_actors == ["Atlantis"]
    assert "'Atlantis' was not found" in caplog.text


def test_model_is_loaded_once_per_process(tiny_version):
    first = load_predictor(tiny_version, "torch", threads=1)
    assert load_predictor(tiny_version, "torch", threads=1) is first


# ---------------------------------------------------------------- command line


def test_cli_table_and_files(tiny_version, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_version.parent, tmp_path / "registry", symlinks=True)
    code = main([str(ARTICLE), "--threads", "1", "--no-progress", "--out", "rows.jsonl",
                 "--summary", "docs.json", "--actors", "Russia,China"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "[Moscow]" in printed and "per document:" in printed and "net" in printed
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert {r["actor"] for r in rows} == {"Russia", "China"} and len(rows) == 6


def test_cli_stdin_jsonl_to_stdout(tiny_version, capsys, monkeypatch):
    import io

    lines = '{"id": "s1", "text": "Russia and China met in Geneva."}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    argv = ["--version", str(tiny_version), "--out", "-", "--threads", "1", "--no-segment"]
    code = main(argv)
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 0 and [(r["doc_id"], r["actor"]) for r in rows] == [("s1", "Russia"), ("s1", "China")]
    assert "per document:" not in captured.err  # JSONL alone on stdout, no table by default
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert main([*argv, "--table"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2 and "per document:" in captured.err  # asked for: on stderr


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d.joinpath("empty.txt").write_bytes(b""), "empty input"),
    (lambda d: d.joinpath("blob.txt").write_bytes(bytes(range(256)) * 4), "not a text file"),
])
def test_cli_bad_input_exits_nonzero_and_keeps_old_output(tiny_version, tmp_path, capsys, make, message):
    make(tmp_path)
    bad = next(p for p in tmp_path.iterdir() if p.suffix == ".txt")
    out = tmp_path / "rows.jsonl"
    out.write_text("previous run\n")
    csv_out = str(tmp_path / "r.csv")
    code = main([str(bad), "--version", str(tiny_version), "--out", str(out), "--csv", csv_out])
    err = capsys.readouterr().err
    assert code == 2 and f"error: {bad}" in err and message in err
    assert out.read_text() == "previous run\n" and not (tmp_path / "r.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bad.name, "rows.jsonl"])  # no temp files


def test_cli_missing_version(tiny_version, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    registry = str(tiny_version.parent)
    code = main([str(ARTICLE), "--registry", registry, "--version", "v0999", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "version 'v0999' not found" in err and tiny_version.name in err
    assert not out.exists()
    assert main([str(ARTICLE), "--registry", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_bad_option_value(tiny_version, capsys):
    assert main([str(ARTICLE), "--version", str(tiny_version), "--set", "mentions=some"]) == 2
    assert "mentions='some'" in capsys.readouterr().err
    assert main([str(ARTICLE), "--version", str(tiny_version), "--set", "no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err


def test_script_wrapper_runs_the_same_main(tiny_version, tmp_path, monkeypatch):
    out = tmp_path / "rows.jsonl"
    monkeypatch.setattr(sys, "argv", ["predict.py", str(ARTICLE), "--version", str(tiny_version),
                                      "--no-table", "--out", str(out), "--threads", "1"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "scripts" / "predict.py"), run_name="__main__")
    assert done.value.code == 0 and len(out.read_text().splitlines()) == len(EXPECTED)


# ---------------------------------------------------------------- ONNX backend
# An export (torch.export tracing, fusions, quantization) takes about 10 s even for the
# tiny model; stance-train now publishes it with the version (tests/test_predict_onnx.py),
# and these older checks run with `pytest -m slow tests/test_predict.py`.


@pytest.fixture(scope="module")
def onnx_version(tiny_version, tmp_path_factory) -> Path:
    """A private copy of the tiny version with its ONNX export (the shared one stays untouched)."""
    root = tmp_path_factory.mktemp("onnx") / "registry"
    shutil.copytree(tiny_version.parent, root, symlinks=True)
    version = root / tiny_version.name
    export_onnx(version, "int8")
    return version


def world_affairs_sentences() -> list[SentenceTargets]:
    path = REPO / "src" / "stance" / "datasets" / "world_affairs" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [SentenceTargets(r["sentence"], [TargetSpec(t["from"], t["to"], t["mention"])
                                            for t in r["targets"]]) for r in rows]


def labels_of(probs: list[list[list[float]]]) -> list[int]:
    return [max(range(len(p)), key=p.__getitem__) for sentence in probs for p in sentence]


@pytest.mark.slow
def test_onnx_export_beside_the_version(onnx_version):
    folder = onnx_version / "onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["export.json", "model.fp32.onnx", "model.int8.onnx"]
    meta = json.loads((folder / "export.json").read_text())
    assert meta["source_weights_sha256"] == sha256_file(onnx_version / "model.safetensors")
    for name in ("model.fp32.onnx", "model.int8.onnx"):
        assert meta["files"][name] == sha256_file(folder / name)
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o444
    assert meta["quantization"]["weight_type"] == "QInt8" and meta["inputs"][0] == "input_ids"
    assert not [p for p in onnx_version.iterdir() if p.name.startswith(".")]  # no staging leftovers
    before = (folder / "model.int8.onnx").stat().st_mtime_ns
    assert export_onnx(onnx_version, "fp32") == folder / "model.fp32.onnx"  # reused, not rebuilt
    assert (folder / "model.int8.onnx").stat().st_mtime_ns == before


@pytest.mark.slow
def test_backends_agree_on_labels(onnx_version):
    sentences = world_affairs_sentences()
    torch_probs = load_predictor(onnx_version, "torch", threads=1).predict_proba(sentences)
    fp32 = load_predictor(onnx_version, "onnx-fp32", threads=1).predict_proba(sentences)
    int8 = load_predictor(onnx_version, "onnx", threads=1).predict_proba(sentences)
    reference = labels_of(torch_probs)
    assert len(reference) > 300
    assert labels_of(fp32) == reference
    flat = [(a, b) for s, t in zip(torch_probs, fp32, strict=True) for x, y in zip(s, t, strict=True)
            for a, b in zip(x, y, strict=True)]
    assert max(abs(a - b) for a, b in flat) < 1e-4
    agree = sum(a == b for a, b in zip(labels_of(int8), reference, strict=True)) / len(reference)
    assert agree >= 0.9, f"int8 agrees with PyTorch on only {agree:.1%} of labels"


@pytest.mark.slow
def test_onnx_cli_matches_torch_rows(onnx_version, tmp_path):
    a, b = tmp_path / "torch.jsonl", tmp_path / "onnx.jsonl"
    common = [str(ARTICLE), "--version", str(onnx_version), "--no-table", "--threads", "1"]
    assert main([*common, "--out", str(a), "--backend", "torch"]) == 0
    assert main([*common, "--out", str(b), "--backend", "onnx-fp32"]) == 0
    rows_a = [json.loads(line) for line in a.read_text().splitlines()]
    rows_b = [json.loads(line) for line in b.read_text().splitlines()]
    strip = [{k: v for k, v in r.items() if k != "probs"} for r in rows_a]
    assert strip == [{k: v for k, v in r.items() if k != "probs"} for r in rows_b]


@pytest.mark.slow
def test_tampered_export_is_refused(onnx_version, tmp_path):
    copy = tmp_path / "v0001"
    shutil.copytree(onnx_version, copy)
    (copy / "onnx" / "model.int8.onnx").chmod(0o644)
    with open(copy / "onnx" / "model.int8.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ConfigError, match="does not match its hash"):
        export_onnx(copy, "int8")


@pytest.mark.slow
def test_read_only_version_exports_to_the_cache(tiny_version, tmp_path, monkeypatch):
    import stance.files as files

    version = tmp_path / "v0001"
    shutil.copytree(tiny_version, version)
    shutil.rmtree(version / "onnx")  # a version published without its export: its manifest lists none
    manifest_path = version / "manifest.json"
    manifest_path.chmod(0o644)
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts_sha256"] = {k: v for k, v in manifest["artifacts_sha256"].items() if not k.startswith("onnx/")}
    manifest_path.write_text(json.dumps(sealed(manifest)))
    real = files.tempfile.mkdtemp

    def refuse_version_folder(suffix=None, prefix=None, dir=None):  # root ignores permission bits
        if dir is not None and Path(dir) == version:
            raise PermissionError(13, "Permission denied", str(dir))
        return real(suffix, prefix, dir)

    monkeypatch.setattr(files.tempfile, "mkdtemp", refuse_version_folder)
    path = export_onnx(version, "int8", onnx_cache=str(tmp_path / "cache"))
    weights = sha256_file(version / "model.safetensors")
    assert path == tmp_path / "cache" / weights / "model.int8.onnx" and path.is_file()
    assert not (version / "onnx").exists()
    fp32 = export_onnx(version, "fp32", onnx_cache=str(tmp_path / "cache"))
    assert fp32 == path.with_name("model.fp32.onnx")
