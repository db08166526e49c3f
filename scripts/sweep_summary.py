#!/usr/bin/env python
"""Rank the trials of a sweep by validation macro-F1, from the manifests they published.

    stance-train -m debug=tiny hparams_search=tiny_optuna
    python scripts/sweep_summary.py --registry registry --study tiny_optuna

Every trial of ``stance-train -m`` publishes its own version, whose manifest
records ``study`` and ``variant`` (set by ``conf/hparams_search/<name>.yaml``).
This prints one markdown row per trial, best first, with the ``train.*`` and
``seed`` values that differ between trials: the table to read after a sweep,
independent of Hydra's ``optimization_results.yaml`` (which names no version).
Exit status 2 when the registry holds no version of that study, or a manifest is unreadable or of
another format (one line naming it).

It reads the typed manifests (``stance.registry.read_version``) and needs no model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stance.errors import StanceError
from stance.registry import VERSION_RE, read_version
from stance.version_format import Manifest


def trials(registry: Path, study: str) -> list[Manifest]:
    folders = sorted(p for p in registry.glob("v[0-9]*") if VERSION_RE.match(p.name) and p.is_dir())
    return [m for m in map(read_version, folders) if m.study == study]


def _score(manifest: Manifest, split: str | None = None) -> float | None:
    metrics = manifest.metrics.get(split or manifest.validation_split)
    return metrics[manifest.main_metric] if metrics else None


def summary(manifests: list[Manifest]) -> str:
    """A markdown table, best validation score first; trials without validation last."""
    params = {"seed": [m.seed for m in manifests]}
    for key in manifests[0].train:
        params[f"train.{key}"] = [m.train.get(key) for m in manifests]
    varying = [k for k, values in params.items() if len({json.dumps(v) for v in values}) > 1]
    ranked = sorted(manifests, key=lambda m: (_score(m) is None, -(_score(m) or 0.0), m.version))
    head = ["rank", "version", "variant", "validation macro-F1", "test macro-F1", *varying]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rank, m in enumerate(ranked, 1):
        val, test = _score(m), _score(m, "test")
        values = [m.seed if k == "seed" else m.train.get(k.removeprefix("train.")) for k in varying]
        row = [rank, m.version, m.variant or "", f"{val:.4f}" if val is not None else "n/a",
               f"{test:.4f}" if test is not None else "n/a", *(f"{v:.3g}" if isinstance(v, float) else v
                                                              for v in values)]
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default="registry", type=Path)
    parser.add_argument("--study", required=True, help="the sweep's study name (hparams_search's `study:`)")
    args = parser.parse_args(argv)
    try:
        manifests = trials(args.registry, args.study)
    except StanceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not manifests:
        print(f"error: no version in {args.registry} has study={args.study!r}", file=sys.stderr)
        return 2
    print(summary(manifests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
