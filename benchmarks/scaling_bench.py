#!/usr/bin/env python
"""Measure what benchmarks/scaling.md reports, all in one run on this machine.

    python benchmarks/scaling_bench.py --steps 60 --copies 20

1. CPU DDP: ``stance-train debug=tiny`` for ``--steps`` steps, 1 process x batch 8
   against ``torchrun --nproc_per_node 2`` x batch 4 (the same global batch);
   training pairs/s and wall time from each version's manifest.
2. Batch inference: a corpus of ``--copies`` copies of the geneva_talks fixture,
   labelled by the tiny version with ``stance-predict`` (one process, 1 thread)
   and ``stance-predict-ray`` with 1 and 2 workers (1 thread each); pairs/s
   including Ray's start.
Prints the load average before and after: numbers taken on a busy machine say so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def ddp(tmp: Path, steps: int) -> None:
    common = ["debug=tiny", f"train.max_steps={steps}", "train.epochs=100", "data.max_train_rows=null"]
    torchrun = ["-m", "torch.distributed.run", "--nproc_per_node", "2"]
    # torchrun gives each rank OMP_NUM_THREADS=1; the 1-thread single process is the like-for-like row.
    for name, launcher, extra in (("1 process", [], ["train.batch_size=8"]),
                                  ("1 process, 1 thread", [], ["train.batch_size=8", "train.threads=1"]),
                                  ("2 processes", torchrun, ["train.batch_size=4"])):
        cwd = tmp / name.replace(" ", "_").replace(",", "")
        cwd.mkdir()
        wall = run([*launcher, "-m", "stance.cli.train", *common, *extra], cwd)
        t = json.loads((cwd / "registry/v0001/manifest.json").read_text())["training"]
        print(f"| DDP | {name} | {t['global_steps']} steps | {t['wall_seconds']} s training "
              f"({wall:.1f} s command) | {t['pairs_per_second']} pairs/s | threads/process {t['threads']} |")


def inference(tmp: Path, copies: int) -> None:
    corpus = tmp / "corpus"
    corpus.mkdir()
    text = (ROOT / "tests/fixtures/articles/geneva_talks.txt").read_text()
    for i in range(copies):
        (corpus / f"doc{i:03d}.txt").write_text(text)
    version = tmp / "1_process/registry/v0001"
    base = ["--version", str(version), "--registry", str(version.parent)]
    out = tmp / "single.jsonl"
    wall = run(["-m", "stance.cli.predict", str(corpus), *base, "--threads", "1", "--out", str(out),
                "--no-progress", "--no-table"], tmp)
    pairs = len(out.read_text().splitlines())
    print(f"| inference | stance-predict, 1 process | {pairs} pairs | {wall:.1f} s | {pairs / wall:.1f} pairs/s |")
    for workers in (1, 2):
        labels = tmp / f"ray{workers}"
        wall = run(["-m", "stance.cli.predict_ray", str(corpus), *base, "--threads", "1", "--out", str(labels),
                    "--workers", str(workers)], tmp)
        pairs = len((labels / "rows.jsonl").read_text().splitlines())
        print(f"| inference | stance-predict-ray, {workers} workers | {pairs} pairs | {wall:.1f} s "
              f"| {pairs / wall:.1f} pairs/s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--skip-inference", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {load()} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        ddp(Path(tmp), args.steps)
        if not args.skip_inference:
            inference(Path(tmp), args.copies)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
