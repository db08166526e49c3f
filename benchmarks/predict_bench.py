#!/usr/bin/env python
"""Cold start, throughput, peak memory and macro-F1 of stance-predict's backends, in one run.

Cold start: ``stance-predict`` on one sentence from stdin, the same command for each
backend, under ``/usr/bin/time -v`` (wall time and peak RSS of the whole process);
one untimed run first (so the files are in the page cache, as on a second call), then
the median of ``--cold-runs`` runs.

Throughput: every backend classifies the same (sentence, target) pairs of a dataset
split (NewsMTSC ``test_rw`` = devtest_rw.jsonl by default) with the same model version:

* ``baseline``: a naive unbatched loop over the same PyTorch model, one pair per forward pass;
* ``torch``: the PyTorch backend (length-sorted batches, ``stance.model.predict_proba``);
* ``onnx-fp32``: ONNX Runtime on the fp32 export (no torch imported);
* ``onnx``: ONNX Runtime, int8 dynamic quantization (no torch imported).

Each backend runs in its own subprocess, so its peak resident memory is its own.
Load time and a short warm-up are excluded from the timed pass; the ONNX export
is made (or reused) before any timing.  Ratios are against the baseline measured
in the same run, never against numbers from another machine.  The fp32 limit is the
encoder's forward-pass FLOPs per pair (from config.json and the pairs' real token
counts) against a float32 matmul peak measured in the same run.

    python benchmarks/predict_bench.py --version latest --registry registry \\
        --report benchmarks/predict.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import matmul_peak_gflops

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GOAL_SPEEDUP = 5.0  # int8 ONNX against the unbatched baseline (issue 14)
GOAL_F1_DROP = 0.5  # macro-F1 points
GOAL_COLD_SECONDS = 1.0  # ONNX cold start, one sentence
GOAL_COLD_MB = 250
GOAL_LIMIT_SHARE = 0.8  # torch backend against the fp32 forward-pass limit
COLD_SENTENCE = "Russia rejected the proposal on Monday, and NATO called the move reckless.\n"


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    VmHWM starts afresh at exec; getrusage's ru_maxrss does not (Linux keeps the
    parent's peak across exec), so it is only the fallback off Linux.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- worker (one backend, one process)


def _baseline(version: Path):
    """The naive way: one (sentence, target) pair per forward pass, no batching."""
    import torch

    from stance.model import InputBuilder, collate, load_model

    model, tokenizer, encoding = load_model(version)
    builder = InputBuilder(tokenizer, encoding)
    pad = tokenizer.pad_token_id or 0

    @torch.inference_mode()
    def run(batch_sentences):
        out = []
        for sentence in batch_sentences:
            probs = []
            for target in sentence.targets:
                (feature,) = builder.encode(sentence.text, [target])
                inputs = collate([feature], pad)
                inputs.pop("labels")
                probs.append(torch.softmax(model(**inputs).logits[0, 0].float(), -1).tolist())
            out.append(probs)
        return out

    return run


def worker(args: argparse.Namespace) -> None:
    from stance.model import SentenceTargets, TargetSpec
    from stance.predict import load_predictor

    if args.worker in ("baseline", "torch"):
        # Only these two use torch; the ONNX workers must not pay its memory.
        import torch

        torch.set_num_threads(args.threads)
    data = json.loads(Path(args.input).read_text())
    sentences = [SentenceTargets(s["text"], [TargetSpec(*t) for t in s["targets"]]) for s in data]
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    if args.worker == "baseline":
        run = _baseline(Path(args.version_path))
    else:
        predictor = load_predictor(Path(args.version_path), args.worker, args.onnx_cache, args.threads)

        def run(batch_sentences):
            return predictor.predict_proba(batch_sentences, args.batch_size)

    load_seconds = time.perf_counter() - started
    run(sentences[: args.warmup])
    started = time.perf_counter()
    probs = run(sentences)
    seconds = time.perf_counter() - started
    pairs = sum(len(s.targets) for s in sentences)
    preds = [max(range(len(p)), key=p.__getitem__) for sentence in probs for p in sentence]
    print(json.dumps({"backend": args.worker, "pairs": pairs, "seconds": seconds,
                      "pairs_per_second": pairs / seconds, "load_seconds": load_seconds,
                      "peak_rss_mb": peak_rss_mb(), "rss_after_imports_mb": rss_before, "preds": preds}))


# ---------------------------------------------------------------- driver


def load_split(data: str, split: str, prepared_root: str, limit: int | None):
    """Sentences and gold labels of a prepared split, from the project's data config."""
    from hydra import compose, initialize_config_dir

    from stance.config import DataConfig, config_dir
    from stance.data import prepare
    from stance.schemas import to_dataclass

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=[f"data={data}"])
    data_cfg = to_dataclass(cfg.data, DataConfig)
    ds = prepare(data_cfg, prepared_root).split(split)
    rows = list(ds)[:limit] if limit else list(ds)
    sentences = [{"text": r["text"], "targets": [[t["start"], t["end"], t["mention"]] for t in r["targets"]]}
                 for r in rows]
    gold = [t["label"] for r in rows for t in r["targets"]]
    return sentences, gold, list(data_cfg.labels)


def run_backend(backend: str, args: argparse.Namespace, version: Path, input_path: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, "--version-path", str(version),
           "--input", input_path, "--threads", str(args.threads), "--batch-size", str(args.batch_size),
           "--warmup", str(args.warmup)]
    if args.onnx_cache:
        cmd += ["--onnx-cache", args.onnx_cache]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"error: backend {backend} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold_start(backends: list[str], args: argparse.Namespace, version: Path) -> list[dict]:
    """Wall time and peak RSS of ``stance-predict`` on one sentence from stdin, per backend."""
    exe = Path(sys.executable).with_name("stance-predict")
    base = [str(exe), "--version", str(version), "--out", "-", "--no-table", "--threads", str(args.threads)]
    commands = {f"stance-predict --backend {b}": [*base, "--backend", b] for b in backends}
    commands["python -c 'import stance.predict'"] = [sys.executable, "-c", "import stance.predict"]
    commands["python -c 'import onnxruntime, tokenizers'"] = [sys.executable, "-c", "import onnxruntime, tokenizers"]
    results = []
    for name, cmd in commands.items():
        runs = []
        for i in range(args.cold_runs + 1):
            done = subprocess.run(["/usr/bin/time", "-v", *cmd], input=COLD_SENTENCE, capture_output=True,
                                  text=True)
            if done.returncode != 0:
                sys.exit(f"error: {name} failed:\n{done.stderr[-3000:]}")
            if i:  # the first run only fills the page cache
                runs.append(_time_v(done.stderr))
        runs.sort()
        wall, rss = runs[len(runs) // 2][0], sorted(r[1] for r in runs)[len(runs) // 2]
        results.append({"command": name, "seconds": wall, "peak_rss_mb": rss, "runs": runs})
        print(f"cold start {name}: {wall:.2f} s, {rss:.0f} MB", file=sys.stderr)
    return results


def _time_v(stderr: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) from GNU time's ``-v`` report."""
    wall = rss = None
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            parts = [float(x) for x in line.rsplit(" ", 1)[1].split(":")]
            wall = sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
        elif line.startswith("Maximum resident set size"):
            rss = int(line.rsplit(" ", 1)[1]) / 1024
    if wall is None or rss is None:
        sys.exit("error: /usr/bin/time -v printed no wall time or peak RSS")
    return wall, rss



def fp32_limit(version: Path, sentences: list[dict], threads: int) -> dict:
    """Pairs/s an fp32 forward pass could reach at the measured matmul peak (a roofline bound)."""
    from stance.model import InputBuilder, SentenceTargets, TargetSpec, encode_sentences
    from stance.model.checkpoint import read_checkpoint_config
    from stance.model.tokenizer import FastTokenizer

    config = json.loads((version / "config.json").read_text())
    h, ffn, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    encoding = read_checkpoint_config(version).encoding
    items = [SentenceTargets(s["text"], [TargetSpec(*t) for t in s["targets"]]) for s in sentences]
    features, _ = encode_sentences(InputBuilder(FastTokenizer(version), encoding), items)
    pairs = sum(len(s.targets) for s in items)
    tokens = sum(f["length"] for f in features)
    seq2 = sum(f["length"] ** 2 for f in features)
    # Per token and layer: Q, K, V, O projections (4 h^2 MACs) and the feed-forward (2 h ffn MACs);
    # per input and layer: attention scores and their weighted sum (2 seq^2 h MACs). 2 FLOPs a MAC.
    flops = 2 * layers * (tokens * (4 * h * h + 2 * h * ffn) + 2 * seq2 * h)
    peak = matmul_peak_gflops(threads)
    return {"tokens_per_pair": tokens / pairs, "mflop_per_pair": flops / pairs / 1e6, "peak_gflops": peak,
            "limit_pairs_per_second": peak * 1e9 / (flops / pairs)}


def macro_f1(gold: list[str], preds: list[int], labels: list[str]) -> float:
    from stance.evaluation import MAIN_METRIC, score
    from stance.labels import LabelSet

    label_set = LabelSet(tuple(labels))
    return score([label_set.encode(g) for g in gold], preds, label_set)[MAIN_METRIC]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cold_report(cold: list[dict]) -> list[str]:
    lines = ["| command (one sentence on stdin) | wall time (s, median) | peak RSS (MB, median) | runs (s) |",
             "|---|---:|---:|---|"]
    for c in cold:
        runs = ", ".join(f"{w:.2f}" for w, _ in c["runs"])
        lines.append(f"| `{c['command']}` | {c['seconds']:.2f} | {c['peak_rss_mb']:.0f} | {runs} |")
    return lines


def report(results: list[dict], meta: dict, cold: list[dict] | None = None, limit: dict | None = None) -> str:
    base = next((r for r in results if r["backend"] == "baseline"), None)
    ref = next((r for r in results if r["backend"] == "torch"), None)
    lines = [
        "| backend | pairs/s | × baseline | peak RSS (MB) | of which model + run (MB) | load (s) | macro-F1 "
        "| Δ F1 vs torch (points) | labels = torch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r['pairs_per_second'] / base['pairs_per_second']:.2f}×" if base else "–"
        delta = f"{100 * (r['macro_f1'] - ref['macro_f1']):+.2f}" if ref else "–"
        same = sum(a == b for a, b in zip(r["preds"], ref["preds"], strict=True)) if ref else 0
        agree = f"{same / len(ref['preds']):.1%}" if ref else "–"
        own = r["peak_rss_mb"] - r["rss_after_imports_mb"]
        lines.append(f"| {r['backend']} | {r['pairs_per_second']:.1f} | {ratio} | {r['peak_rss_mb']:.0f} | "
                     f"{own:.0f} | {r['load_seconds']:.1f} | {r['macro_f1']:.4f} | {delta} | {agree} |")
    head = [
        f"- model: `{meta['version']}` ({meta['model']}), from `{meta['version_path']}`",
        f"- data: {meta['data']} `{meta['split']}`, {meta['sentences']} sentences, {meta['pairs']} pairs",
        f"- machine: {meta['cpu']}, {meta['threads']} thread(s), batch size {meta['batch_size']}; "
        f"load average {meta['load_before']} before the run, {meta['load_after']} after",
        f"- run: {meta['date']}, `{meta['command']}`",
        f"- goals: ONNX cold start ≤ {GOAL_COLD_SECONDS} s and ≤ {GOAL_COLD_MB} MB; int8 ≥ {GOAL_SPEEDUP:.0f}× the "
        f"baseline's pairs/s with macro-F1 at most {GOAL_F1_DROP} points below torch; torch ≥ "
        f"{GOAL_LIMIT_SHARE:.0%} of the fp32 limit",
    ]
    title = ["# stance-predict benchmark", "",
             "Made by `benchmarks/predict_bench.py` (see its docstring and docs/predict.md).", ""]
    body = head + [""]
    if cold:
        body += ["### Cold start", ""] + cold_report(cold) + [""]
    body += ["### Throughput", ""] + lines
    if limit:
        torch_row = next((r for r in results if r["backend"] == "torch"), None)
        share = f"; torch reaches {torch_row['pairs_per_second'] / limit['limit_pairs_per_second']:.0%} of it" \
            if torch_row else ""
        body += ["", f"fp32 limit: {limit['limit_pairs_per_second']:.0f} pairs/s "
                 f"({limit['mflop_per_pair']:.0f} MFLOP per pair, {limit['tokens_per_pair']:.1f} tokens per pair, "
                 f"{limit['peak_gflops']:.0f} GFLOP/s measured float32 matmul peak){share}."]
    return "\n".join(title + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", default="latest", help="registry version, 'latest', or a checkpoint folder")
    p.add_argument("--registry", default="registry")
    p.add_argument("--data", default="newsmtsc", help="a data config in configs/data/")
    p.add_argument("--split", default="test_rw", help="prepared split (NewsMTSC test_rw is devtest_rw.jsonl)")
    p.add_argument("--prepared-root", default="prepared")
    p.add_argument("--limit", type=int, help="only the first N sentences (smoke runs)")
    p.add_argument("--backends", default="baseline,torch,onnx-fp32,onnx")
    p.add_argument("--cold-runs", type=int, default=3, help="timed cold starts per backend (0: skip)")
    p.add_argument("--threads", type=int, help="CPU threads for every backend (default: as stance-predict)")
    p.add_argument("--batch-size", type=int, help="default: stance-predict's")
    p.add_argument("--warmup", type=int, default=8, help="sentences run once before timing")
    p.add_argument("--onnx-cache")
    p.add_argument("--report", help="write the results table (markdown) here")
    p.add_argument("--json", help="write raw results (JSON) here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--version-path", help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0

    from stance.config import PredictJob
    from stance.errors import USER_ERROR_EXIT, StanceError
    from stance.predict import default_threads, export_onnx, resolve_version
    from stance.registry import verify_checkpoint

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())

    args.threads = args.threads or default_threads()
    args.batch_size = args.batch_size or PredictJob.batch_size
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:  # a missing, tampered or foreign version, or bad data, is one line before any timing
        version = resolve_version(args.version, args.registry)
        verify_checkpoint(version)
        sentences, gold, labels = load_split(args.data, args.split, args.prepared_root, args.limit)
        if any(b.startswith("onnx") for b in backends):
            export_onnx(version, "int8", args.onnx_cache)  # once, before any timing
    except StanceError as err:
        print(f"error: {err}", file=sys.stderr)
        return USER_ERROR_EXIT
    stance_backends = [b for b in backends if b != "baseline"]
    cold = cold_start(stance_backends, args, version) if args.cold_runs else []
    limit = fp32_limit(version, sentences, args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        input_path = str(Path(tmp) / "pairs.json")
        Path(input_path).write_text(json.dumps(sentences))
        for backend in backends:
            result = run_backend(backend, args, version, input_path)
            result["macro_f1"] = macro_f1(gold, result["preds"], labels)
            print(f"{backend}: {result['pairs_per_second']:.1f} pairs/s, "
                  f"peak {result['peak_rss_mb']:.0f} MB, macro-F1 {result['macro_f1']:.4f}", file=sys.stderr)
            results.append(result)
    given = sys.argv[1:] if argv is None else argv
    manifest_path = version / "manifest.json"
    model = json.loads(manifest_path.read_text())["model"]["name"] if manifest_path.is_file() else "?"
    meta = {"version": version.name, "version_path": str(version), "model": model, "data": args.data,
            "split": args.split, "sentences": len(sentences), "pairs": len(gold), "cpu": cpu_name(),
            "threads": args.threads, "batch_size": args.batch_size, "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["python benchmarks/predict_bench.py", *given]), "load_before": load_before,
            "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    table = report(results, meta, cold, limit)
    print(table)
    if args.report:
        Path(args.report).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results, "cold_start": cold,
                                               "fp32_limit": limit}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
