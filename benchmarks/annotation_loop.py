"""Does the annotation loop help? Uncertainty selection against random selection, simulated (issue 25, item 5).

For each seed:

1. **base**: ``stance-train data.train_documents=SHARE seed=S`` (the default recipe on a share of the
   world-affairs training articles, drawn with ``data.split.seed`` as every learning-curve run draws them);
2. **pool**: the training sentences of the other articles, with their gold spans. The base version labels
   every pool pair with its default backend (int8 ONNX, calibrated probabilities), and the rows are built
   as ``stance-predict`` builds them;
3. **selection**: ``N`` pairs by uncertainty and ``N`` at random, with the export's own code
   (:func:`stance.predict.selection.select_rows`, ``--select uncertain`` / ``random``);
4. **labelling**: the selected pairs become Label Studio tasks with the export's own code
   (:func:`stance.predict.label_studio.build_tasks`), and a simulated annotator answers each region with
   its gold label; the tasks and answers are written as a Label Studio JSON export;
5. **retrain**: ``stance-train`` as in 1 with the export mixed in (``+data@mix.labelled=...``, a data config
   with ``format: label_studio``, read by ``stance-prepare``'s own reader), once per selection.

Trainings run one at a time, as subprocesses, under the ``nice`` the script was started with. Macro-F1
comes from each version's manifest (validation picks the epoch; test, test_hard and test_hard2 are
reported). The fp32 matmul rate is measured at the start and the end of the run, so the wall times can
be read against the machine's speed.

    nice -n 10 python benchmarks/annotation_loop.py --work /tmp/annotation_loop \\
        --report benchmarks/annotation_loop.md > /tmp/annotation_loop.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import matmul_peak_gflops

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("validation", "test", "test_hard", "test_hard2")
VARIANTS = ("base", "random", "uncertain")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)



# ---------------------------------------------------------------- training


def train(args: argparse.Namespace, seed: int, variant: str, mix: str | None = None) -> dict[str, Any]:
    """One ``stance-train`` run in its own process; its version, metrics and wall time."""
    work = args.work
    cmd = [str(Path(sys.executable).parent / "stance-train"), f"seed={seed}",
           f"data.train_documents={args.base_documents}", f"train.epochs={args.epochs}",
           f"registry={work}/registry", f"prepared_root={work}/prepared", f"work_dir={work}/runs",
           f"hydra.run.dir={work}/hydra/{variant}-{seed}", "study=annotation_loop", f"variant={variant}",
           "train.progress=false", *args.set]
    if mix is not None:
        cmd[1:1] = ["--config-dir", str(work / "configs")]
        cmd.append(f"+data@mix.labelled={mix}")
    log(f"train {variant} seed {seed}: {' '.join(cmd[1:])}")
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - started
    (work / "logs").mkdir(exist_ok=True)
    (work / "logs" / f"{variant}-{seed}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"stance-train {variant} seed {seed} failed ({done.returncode}); see {work}/logs")
    version = re.search(r"wrote (v\d+)", done.stdout).group(1)  # type: ignore[union-attr]
    manifest = json.loads((work / "registry" / version / "manifest.json").read_text())
    scores = {s: manifest["metrics"][s]["macro_f1"] for s in SPLITS if s in manifest["metrics"]}
    mixed = manifest.get("mix", {}).get("labelled", {}).get("splits", {}).get("train", {}).get("pairs", 0)
    log(f"  {version}: {', '.join(f'{s} {100 * v:.2f}' for s, v in scores.items())} ({seconds:.0f} s)")
    return {"seed": seed, "variant": variant, "version": version, "wall_seconds": round(seconds, 1),
            "fine_tune_seconds": manifest["training"]["wall_seconds"],
            "train_pairs": manifest["training"]["train_pairs"],
            "labelled_pairs": mixed, "macro_f1": scores}


# ---------------------------------------------------------------- the pool and the simulated labelling


def pool_rows(work: Path, version: str) -> list[dict[str, Any]]:
    """Every pair of the training articles the base version did not train on, as stance-predict rows."""
    from stance.cli.common import compose_config
    from stance.config import PrepareJob
    from stance.data import load_prepared, prepare
    from stance.model.encoding import SentenceTargets, TargetSpec
    from stance.predict import load_predictor
    from stance.schemas import to_dataclass

    path = work / "registry" / version
    manifest = json.loads((path / "manifest.json").read_text())
    base = load_prepared(work / "prepared" / manifest["data"]["prepared"]).split("train")
    seen = set(base["doc_id"])
    full = prepare(to_dataclass(compose_config("prepare", []), PrepareJob).data, work / "prepared").split("train")
    pool = [row for row in full if row["doc_id"] not in seen]
    predictor = load_predictor(path, "onnx")  # stance-predict's default backend: int8, calibrated
    batch = [SentenceTargets(r["text"], [TargetSpec(t["start"], t["end"], t["mention"]) for t in r["targets"]])
             for r in pool]
    probs = predictor.predict_proba(batch, 32, progress=False)
    names = predictor.labels.names
    rows, index = [], {}
    for sentence, sentence_probs in zip(pool, probs, strict=True):
        i = index[sentence["doc_id"]] = index.get(sentence["doc_id"], -1) + 1
        for target, p in zip(sentence["targets"], sentence_probs, strict=True):
            best = max(range(len(p)), key=p.__getitem__)
            rows.append({"doc_id": sentence["doc_id"], "sentence_index": i, "sentence_start": 0,
                         "sentence": sentence["text"], "actor": target["actor"], "mention": target["mention"],
                         "start": target["start"], "end": target["end"], "spans": [[target["start"], target["end"]]],
                         "label": names[best], "probs": dict(zip(names, p, strict=True)), "gold": target["label"]})
    log(f"pool: {len(pool)} sentences, {len(rows)} pairs in {len({r['doc_id'] for r in pool})} articles "
        f"(base trained on {len(seen)} articles)")
    return rows


def labelled_export(rows: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The selected rows as Label Studio tasks, each answered by a simulated annotator with the gold labels."""
    from stance.predict.label_studio import build_tasks

    gold = {(r["doc_id"], r["sentence_index"], r["start"], r["end"]): r["gold"] for r in rows}
    tasks = build_tasks(rows, version)
    for number, task in enumerate(tasks, 1):
        key = (task["data"]["doc_id"], task["data"]["sentence_index"])
        result = [{k: v for k, v in region.items() if k != "score"} for region in task["predictions"][0]["result"]]
        for region in result:
            span = (region["value"]["start"], region["value"]["end"])
            region["value"] = {**region["value"], "labels": [gold[(*key, *span)]]}
        task["id"] = number
        task["annotations"] = [{"id": number, "completed_by": "gold", "was_cancelled": False, "result": result}]
    return tasks


def write_mix(work: Path, name: str, tasks: list[dict[str, Any]]) -> None:
    """The export and a data config of one's own that reads it (format label_studio), for +data@mix."""
    (work / "labelled").mkdir(exist_ok=True)
    (work / "configs" / "data").mkdir(parents=True, exist_ok=True)
    (work / "labelled" / f"{name}.json").write_text(json.dumps(tasks, ensure_ascii=False))
    (work / "configs" / "data" / f"{name}.yaml").write_text(
        f"name: {name}\nformat: label_studio\npath: {work / 'labelled'}\nfiles: {{train: {name}.json}}\n"
        "split: {carve_from: null}\n")


def selection_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    wrong = sum(r["label"] != r["gold"] for r in rows)
    gold: dict[str, int] = {}
    for r in rows:
        gold[r["gold"]] = gold.get(r["gold"], 0) + 1
    return {"pairs": len(rows), "model_wrong": wrong, "gold_labels": gold,
            "sentences": len({(r["doc_id"], r["sentence_index"]) for r in rows})}


# ---------------------------------------------------------------- one seed, all seeds


def run_seed(args: argparse.Namespace, seed: int, results: dict[str, Any]) -> None:
    from stance.config import ExportConfig
    from stance.predict.selection import select_rows

    base = train(args, seed, "base")
    results["runs"].append(base)
    rows = pool_rows(args.work, base["version"])
    for how in ("random", "uncertain"):
        cfg = ExportConfig(path="simulated.json", select=how, n=args.n, uncertainty=args.uncertainty, seed=seed)
        chosen = select_rows(rows, cfg)
        results["selections"].append({"seed": seed, "select": how, **selection_stats(chosen)})
        name = f"loop_{how}_s{seed}"
        write_mix(args.work, name, labelled_export(chosen, base["version"]))
        results["runs"].append(train(args, seed, how, mix=name))
        save(args, results)


def save(args: argparse.Namespace, results: dict[str, Any]) -> None:
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    if args.report:
        Path(args.report).write_text(render(results))


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.1f}" if values else "-"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def render(results: dict[str, Any]) -> str:
    """The measured table: mean ± sd over seeds per variant, then uncertain − random per seed."""
    runs = results["runs"]
    lines = ["| variant | seeds | train pairs | " + " | ".join(SPLITS) + " | wall s (mean) |",
             "|---|---|---:|" + "---:|" * len(SPLITS) + "---:|"]
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        cells = [_mean_sd([r["macro_f1"][s] for r in mine]) for s in SPLITS]
        pairs = statistics.mean(r["train_pairs"] for r in mine)
        lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in mine)} | {pairs:.0f} | " + " | ".join(cells)
                     + f" | {statistics.mean(r['wall_seconds'] for r in mine):.0f} |")
    lines += ["", "Gain of uncertain over random (macro-F1 points), per seed:", "",
              "| split | " + " | ".join(f"seed {s}" for s in results["seeds"]) + " | mean ± sd |",
              "|---|" + "---:|" * (len(results["seeds"]) + 1)]
    by = {(r["variant"], r["seed"]): r for r in runs}
    for split in SPLITS:
        gains = [100 * (by[("uncertain", s)]["macro_f1"][split] - by[("random", s)]["macro_f1"][split])
                 for s in results["seeds"] if ("uncertain", s) in by and ("random", s) in by]
        if not gains:
            continue
        spread = f"{statistics.mean(gains):+.1f} ± {statistics.stdev(gains):.1f}" if len(gains) > 1 else "-"
        lines.append(f"| {split} | " + " | ".join(f"{g:+.2f}" for g in gains) + f" | {spread} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for registry, prepared data, logs")
    parser.add_argument("--base-documents", type=float, default=0.2, help="share of training articles for base")
    parser.add_argument("--epochs", type=float, default=5,
                        help="3 (the default recipe) leaves a base this small undertrained (validation 46 at 0.15)")
    parser.add_argument("--n", type=int, default=300, help="pairs labelled per selection")
    parser.add_argument("--uncertainty", default="margin", choices=["margin", "entropy"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--report", help="write the table (markdown) here as results come in")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra stance-train override for every run (e.g. debug=tiny for a smoke run)")
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads = len(os.sched_getaffinity(0))
    results: dict[str, Any] = {"seeds": args.seeds, "settings": {k: str(v) for k, v in vars(args).items()},
                               "threads": threads, "gflops_start": round(matmul_peak_gflops(threads), 1),
                               "load_start": os.getloadavg(), "runs": [], "selections": []}
    log(f"fp32 matmul {results['gflops_start']} GFLOP/s on {threads} threads; load {results['load_start']}")
    started = time.perf_counter()
    for seed in args.seeds:
        run_seed(args, seed, results)
    results["gflops_end"] = round(matmul_peak_gflops(threads), 1)
    results["load_end"] = os.getloadavg()
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    save(args, results)
    log(f"done in {results['wall_seconds']:.0f} s; fp32 matmul {results['gflops_end']} GFLOP/s at the end")
    print(render(results))


if __name__ == "__main__":
    main()
