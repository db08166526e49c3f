"""Issue 14: the ONNX export ships with each version, the ONNX path runs without torch or
transformers, and the Python API gives the CLI's rows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from stance.errors import ConfigError
from stance.files import sha256_file
from stance.model import Encoding, InputBuilder, SentenceTargets, TargetSpec, collate, load_tokenizer
from stance.model.arrays import pad_arrays
from stance.model.tokenizer import FastTokenizer
from stance.predict import StancePredictor, find_export, load_predictor, read_documents, run_prediction
from stance.predict.onnx_files import valid_export
from stance.registry import sealed

REPO = Path(__file__).resolve().parents[1]
WORLD_TEST = REPO / "src" / "stance" / "datasets" / "world_affairs" / "test.jsonl"
ARTICLE = Path(__file__).parent / "fixtures" / "articles" / "geneva_talks.txt"

# Imports of these (and their submodules) fail in the child process: the ONNX path must not need them.
BLOCKER = '''
import os
import sys

class _Blocked:
    BLOCKED = tuple(os.environ.get("STANCE_TEST_BLOCKED", "torch,transformers").split(","))

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, _Blocked())
'''


def world_affairs_sentences(limit: int | None = None) -> list[SentenceTargets]:
    rows = [json.loads(line) for line in WORLD_TEST.read_text().splitlines()][:limit]
    return [SentenceTargets(r["sentence"], [TargetSpec(t["from"], t["to"], t["mention"]) for t in r["targets"]])
            for r in rows]


def edge_sentences() -> list[SentenceTargets]:
    long = "Diplomats met again. " * 60 + "Russia walked out of the talks." + " Nothing else." * 40
    at = long.index("Russia")
    return [
        SentenceTargets(long, [TargetSpec(at, at + 6, "Russia"), TargetSpec(-1, -1, "sanctions policy")]),
        SentenceTargets("Café owners in Zürich blamed the EU — again.", [TargetSpec(34, 36, "EU")]),
        SentenceTargets("NATO and NATO allies met.", [TargetSpec(0, 4, "NATO"), TargetSpec(9, 13, "NATO")]),
    ]


def blocked_env(tmp_path: Path, blocked: str = "torch,transformers") -> dict[str, str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src")]),
            "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "STANCE_TEST_BLOCKED": blocked}


# ---------------------------------------------------------------- publish time


def test_stance_train_publishes_the_export_in_the_manifest(tiny_version):
    manifest = json.loads((tiny_version / "manifest.json").read_text())
    hashes = manifest["artifacts_sha256"]
    for name in ("export.json", "model.fp32.onnx", "model.int8.onnx"):
        path = tiny_version / "onnx" / name
        assert hashes[f"onnx/{name}"] == sha256_file(path)
    meta = json.loads((tiny_version / "onnx" / "export.json").read_text())
    assert meta["source_weights_sha256"] == hashes["model.safetensors"]
    assert find_export(tiny_version, "int8") == tiny_version / "onnx" / "model.int8.onnx"
    assert not [p for p in tiny_version.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_a_changed_published_export_is_refused(tiny_version, tmp_path):
    """Consistent with its export.json but not with the manifest: the version was changed after publishing."""
    copy = tmp_path / tiny_version.name
    shutil.copytree(tiny_version, copy)
    folder = copy / "onnx"
    for p in folder.iterdir():
        p.chmod(0o644)
    shutil.copy(folder / "model.fp32.onnx", folder / "model.int8.onnx")
    meta = json.loads((folder / "export.json").read_text())
    meta["files"]["model.int8.onnx"] = sha256_file(folder / "model.int8.onnx")
    (folder / "export.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="manifest.json; the version was changed after it was published"):
        valid_export(folder, meta["source_weights_sha256"], "int8",
                     json.loads((copy / "manifest.json").read_text())["artifacts_sha256"]["onnx/model.int8.onnx"])
    with pytest.raises(ConfigError, match="changed after it was published"):
        find_export(copy, "int8")


# ---------------------------------------------------------------- the torch-free encoding core


@pytest.mark.parametrize("encoding", [
    Encoding("marker", "span", False, ("[unused0]", "[unused1]"), 64),
    Encoding("pair", "cls", False, ("[unused0]", "[unused1]"), 48),
    Encoding("marker_pair", "marker", True, ("[unused0]", "[unused1]"), 128),
])
def test_fast_tokenizer_gives_the_features_of_transformers(tiny_version, encoding):
    sentences = world_affairs_sentences(60) + edge_sentences()
    fast = InputBuilder(FastTokenizer(tiny_version), encoding)
    hf_tokenizer = load_tokenizer(str(tiny_version))
    reference = InputBuilder(hf_tokenizer, encoding)
    for s in sentences:
        assert fast.encode(s.text, s.targets) == reference.encode(s.text, s.targets), s.text[:60]
    features = [f for s in sentences for f in fast.encode(s.text, s.targets)]
    assert FastTokenizer(tiny_version).pad_token_id == hf_tokenizer.pad_token_id
    batch = collate(features[:17], hf_tokenizer.pad_token_id)
    arrays = pad_arrays(features[:17], hf_tokenizer.pad_token_id)
    for name, array in arrays.items():
        assert np.array_equal(array, batch[name].numpy()), name


# ---------------------------------------------------------------- the ONNX path without torch


def todays_onnx_probs(version: Path, sentences: list[SentenceTargets]) -> list[list[list[float]]]:
    """The ONNX backend as it was before issue 14: transformers' tokenizer, torch batches and softmax."""
    import onnxruntime as ort
    import torch
    from transformers import AutoConfig

    from stance.model import predict_proba

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(version / "onnx" / "model.int8.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    class Runner:
        config = AutoConfig.from_pretrained(version)  # the version's temperature applies here too

        def eval(self):
            return self

        def __call__(self, **batch):
            logits = session.run(["logits"], {n: batch[n].numpy() for n in names})[0]
            return SimpleNamespace(logits=torch.from_numpy(logits))

    encoding = Encoding.from_pretrained_config(AutoConfig.from_pretrained(version))
    return predict_proba(Runner(), load_tokenizer(str(version)), encoding, sentences)


def test_onnx_backend_runs_with_torch_and_transformers_blocked(tiny_version, tmp_path):
    sentences = world_affairs_sentences() + edge_sentences()
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f'''
        import json, sys
        from stance.model import SentenceTargets, TargetSpec
        from stance.predict import load_predictor

        data = json.loads(open({str(tmp_path / "in.json")!r}).read())
        sentences = [SentenceTargets(t, [TargetSpec(*x) for x in ts]) for t, ts in data]
        probs = load_predictor(__import__("pathlib").Path({str(tiny_version)!r}), "onnx", threads=1) \\
            .predict_proba(sentences)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))
        print(json.dumps({{"probs": probs, "heavy": heavy}}))
    '''))
    (tmp_path / "in.json").write_text(json.dumps([[s.text, [[t.start, t.end, t.mention] for t in s.targets]]
                                                  for s in sentences]))
    done = subprocess.run([sys.executable, str(script)], env=blocked_env(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    child = json.loads(done.stdout.splitlines()[-1])
    assert child["heavy"] == []
    reference = todays_onnx_probs(tiny_version, world_affairs_sentences() + edge_sentences())
    got = child["probs"]
    labels = [[max(range(len(p)), key=p.__getitem__) for p in s] for s in got]
    assert labels == [[max(range(len(p)), key=p.__getitem__) for p in s] for s in reference]
    diff = max(abs(a - b) for s, r in zip(got, reference, strict=True) for p, q in zip(s, r, strict=True)
               for a, b in zip(p, q, strict=True))
    assert diff <= 1e-6  # numpy's and torch's float32 exp may differ in the last bit


def test_cli_with_the_onnx_backend_imports_no_torch(tiny_version, tmp_path):
    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, "-m", "stance.cli.predict", str(ARTICLE), "--version", str(tiny_version),
           "--backend", "onnx", "--threads", "1", "--out", str(out), "--no-table"]
    done = subprocess.run(cmd, env=blocked_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    from stance.config import PredictJob

    expected = run_prediction(PredictJob(version=str(tiny_version), inputs=[str(ARTICLE)], backend="onnx",
                                         threads=1, table=False, progress=False)).rows
    assert rows == expected and len(rows) == 18


def test_a_plain_cli_run_imports_no_hydra_either(tiny_version, tmp_path):
    # Without --set the packaged predict.yaml is not composed (cold start); Hydra, OmegaConf and
    # huggingface_hub are blocked here, and the rows are still those of the composed run above.
    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, "-m", "stance.cli.predict", str(ARTICLE), "--version", str(tiny_version),
           "--threads", "1", "--out", str(out), "--no-table"]
    env = blocked_env(tmp_path, "torch,transformers,hydra,omegaconf,huggingface_hub")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    with_set = tmp_path / "with_set.jsonl"
    done = subprocess.run(cmd[:-3] + ["--out", str(with_set), "--no-table", "--set", "table=false"],
                          env=blocked_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_text() == with_set.read_text() and out.read_text()


def test_the_packaged_predict_config_composes_to_the_dataclass_defaults():
    # What lets a plain stance-predict skip Hydra: composing predict.yaml adds nothing to PredictJob().
    from stance.cli.common import compose_config
    from stance.config import PredictJob
    from stance.schemas import to_dataclass

    assert to_dataclass(compose_config("predict", [], None), PredictJob) == PredictJob()


# ---------------------------------------------------------------- the Python API


def test_api_gives_the_rows_of_the_cli(tiny_version, tmp_path):
    from stance.cli.predict import main

    out = tmp_path / "rows.jsonl"
    assert main([str(ARTICLE), "--version", str(tiny_version), "--backend", "onnx", "--threads", "1",
                 "--out", str(out), "--no-table", "--mentions", "aggregate"]) == 0
    cli_rows = [json.loads(line) for line in out.read_text().splitlines()]
    predictor = StancePredictor.load(tiny_version, backend="onnx", threads=1, mentions="aggregate")
    rows, summaries = predictor.predict_documents(read_documents([str(ARTICLE)]))
    assert rows == cli_rows and summaries[0]["doc_id"] == "geneva_talks"
    text_rows = predictor.predict_texts([ARTICLE.read_text(encoding="utf-8")], ids=["geneva_talks"])
    assert text_rows == cli_rows
    assert predictor.model is load_predictor(tiny_version, "onnx", threads=1)  # loaded once


def test_api_rejects_unknown_settings_and_empty_texts(tiny_version):
    from stance.errors import InputError

    with pytest.raises(InputError, match="settings are PredictJob fields"):
        StancePredictor.load(tiny_version, backned="onnx")
    with pytest.raises(InputError, match="text '1' is empty"):
        StancePredictor.load(tiny_version, backend="onnx", threads=1).predict_texts(["Russia spoke.", "  "])


def test_the_docs_example_runs(tiny_version, tmp_path):
    """docs/predict.md's Python example, run as written against a tiny version."""
    doc = (REPO / "docs" / "predict.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    example = next(b for b in blocks if "StancePredictor.load" in b)
    registry = tmp_path / "registry"
    shutil.copytree(tiny_version.parent, registry, symlinks=True)
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=blocked_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = done.stdout.splitlines()
    assert [line.split()[1] for line in printed] == ["Russia", "NATO"], done.stdout


# ---------------------------------------------------------------- versions from before


@pytest.mark.slow
def test_a_version_without_export_still_exports_on_first_use(tiny_version, tmp_path):
    copy = tmp_path / tiny_version.name
    shutil.copytree(tiny_version, copy)
    shutil.rmtree(copy / "onnx")  # published without its export: the (re-sealed) manifest lists none
    manifest_path = copy / "manifest.json"
    manifest_path.chmod(0o644)
    manifest = json.loads(manifest_path.read_text())
    manifest["artifacts_sha256"] = {k: v for k, v in manifest["artifacts_sha256"].items() if not k.startswith("onnx/")}
    manifest_path.write_text(json.dumps(sealed(manifest)))
    predictor = load_predictor(copy, "onnx-fp32", threads=1)
    assert predictor.onnx_path == copy / "onnx" / "model.fp32.onnx" and predictor.onnx_path.is_file()
    probs = predictor.predict_proba(world_affairs_sentences(20))
    assert len(probs) == 20
