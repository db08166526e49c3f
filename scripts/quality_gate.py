#!/usr/bin/env python
"""CI quality gate: fail the build when macro-F1 falls below the committed floor.

    # judge a version's report (what .ci/run does):
    python scripts/quality_gate.py check --registry registry --version latest --split test_rw
    # or a metrics.json anywhere:
    python scripts/quality_gate.py check --metrics registry/v0003/eval/test_rw/metrics.json

    # propose (and with --write, commit to the file) a floor from measured runs:
    python scripts/quality_gate.py floor --metrics run1/metrics.json run2/metrics.json run3/metrics.json

``check`` prints the version's markdown report and a verdict; it exits 0 when
the metric is at or above the floor, 1 when below, and 2 when it cannot judge
(missing metrics.json, no floor for this data and split, a bad floor file), so
CI fails on both. The floor file is ``benchmarks/quality_floor.json``, keyed
``<data>/<split>``; docs/evaluation.md says how to raise it.

Only the standard library: the gate reads two JSON files and needs no model.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from stance.files import write_text_atomic

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOOR = ROOT / "benchmarks" / "quality_floor.json"
PASS, FAIL, CANNOT_JUDGE = 0, 1, 2


class GateError(Exception):
    """The gate cannot judge: a missing or malformed input; exit 2."""


# ---------------------------------------------------------------- inputs


def read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise GateError(f"no {what} at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GateError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(data, dict):
        raise GateError(f"{path}: expected a JSON object")
    return data


def version_dir(registry: Path, version: str) -> Path:
    path = registry / version
    if not (path / "manifest.json").is_file():
        raise GateError(f"no version {version!r} in registry {registry} "
                        f"(looked for {path / 'manifest.json'})")
    return path.resolve()


def metrics_path(args: argparse.Namespace) -> Path:
    if args.metrics:
        return Path(args.metrics)
    if not args.split:
        raise GateError("give --metrics PATH, or --split with --registry/--version")
    return version_dir(Path(args.registry), args.version) / args.eval_dir / args.split / "metrics.json"


def metric_value(report: dict[str, Any], metric: str, path: Path) -> float:
    value = report.get("metrics", {}).get(metric)
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise GateError(f"{path}: metrics.{metric} is missing or not a number ({value!r})")
    return float(value)


def floor_entry(floors: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    entries = floors.get("floors")
    if not isinstance(entries, dict):
        raise GateError(f"{path}: expected an object under 'floors'")
    if key not in entries:
        raise GateError(f"{path}: no floor for {key!r} (floors exist for {sorted(entries) or 'nothing'}); "
                        "measure runs and set one with `quality_gate.py floor --write` (docs/evaluation.md)")
    entry = entries[key]
    floor = entry.get("floor") if isinstance(entry, dict) else None
    if not isinstance(floor, int | float) or isinstance(floor, bool) or not 0 <= floor <= 1:
        raise GateError(f"{path}: floors.{key}.floor must be a number in [0, 1], got {floor!r}; "
                        "set it from measured runs (docs/evaluation.md)")
    return entry


# ---------------------------------------------------------------- check


def verdict_lines(key: str, metric: str, value: float, floor: float, report: dict[str, Any]) -> list[str]:
    ci = report.get("bootstrap", {}).get(metric) or {}
    passed = value >= floor
    lines = ["## Quality gate", "",
             "| data / split | metric | value | floor | value - floor | verdict |",
             "|---|---|---|---|---|---|",
             f"| {key} | {metric} | {value:.4f} | {floor:.4f} | {value - floor:+.4f} | "
             f"{'PASS' if passed else '**FAIL**'} |", ""]
    if isinstance(ci.get("low"), float) and isinstance(ci.get("high"), float):
        lines.append(f"Bootstrap interval of {metric}: [{ci['low']:.4f}, {ci['high']:.4f}].")
    lines.append(f"quality gate: {'PASS' if passed else 'FAIL'}: {metric} {value:.4f} "
                 f"{'>=' if passed else '<'} floor {floor:.4f} ({key})")
    return lines


def check(args: argparse.Namespace) -> int:
    path = metrics_path(args)
    report = read_json(path, "metrics.json (run the evaluation first)")
    key = args.key or f"{report.get('data')}/{report.get('split')}"
    floors_path = Path(args.floor)
    floors = read_json(floors_path, "floor file")
    metric = floors.get("metric", "macro_f1")
    entry = floor_entry(floors, key, floors_path)
    value = metric_value(report, metric, path)
    markdown = path.parent / "report.md"
    if not args.quiet:
        print(markdown.read_text(encoding="utf-8") if markdown.is_file() else f"(no report.md beside {path})")
    print("\n".join(verdict_lines(key, metric, value, float(entry["floor"]), report)))
    return PASS if value >= float(entry["floor"]) else FAIL


# ---------------------------------------------------------------- floor


def propose_floor(values: list[float], k: float, min_margin: float) -> dict[str, Any]:
    """A floor ``k`` standard deviations below the mean of measured runs, and at least
    ``min_margin`` below the worst of them, rounded down to 3 decimals."""
    if len(values) < 2:
        raise GateError("measure at least two runs (different seeds) to estimate the noise")
    mean, sd = statistics.mean(values), statistics.stdev(values)
    floor = min(mean - k * sd, min(values) - min_margin)
    # The epsilon keeps float noise (0.58 stored as 0.5799999...) from costing a thousandth.
    return {"floor": max(0.0, math.floor(floor * 1000 + 1e-9) / 1000), "mean": round(mean, 5),
            "sd": round(sd, 5), "min": round(min(values), 5), "max": round(max(values), 5), "k_sd": k,
            "min_margin": min_margin}


def floor_cmd(args: argparse.Namespace) -> int:
    reports = [(Path(p), read_json(Path(p), "metrics.json")) for p in args.metrics]
    keys = {args.key or f"{r.get('data')}/{r.get('split')}" for _, r in reports}
    if len(keys) != 1:
        raise GateError(f"the runs are not all on one data/split: {sorted(keys)}")
    key = keys.pop()
    floors_path = Path(args.floor)
    floors = {"metric": "macro_f1", "floors": {}}
    if floors_path.is_file():
        floors = read_json(floors_path, "floor file")
    metric = floors.get("metric", "macro_f1")
    values = [metric_value(r, metric, p) for p, r in reports]
    proposal = propose_floor(values, args.k, args.min_margin)
    print(f"{key}: {metric} over {len(values)} runs: " + ", ".join(f"{v:.4f}" for v in values))
    print(f"mean {proposal['mean']:.4f}, sd {proposal['sd']:.4f} -> proposed floor {proposal['floor']:.3f}")
    if not args.write:
        return PASS
    old = floors.get("floors", {}).get(key, {}).get("floor")
    if isinstance(old, int | float) and proposal["floor"] < old and not args.allow_lower:
        raise GateError(f"the proposed floor {proposal['floor']:.3f} is below the committed {old:.3f}; "
                        "lowering the floor needs --allow-lower and a reason in the commit message")
    entry = {**proposal, "runs": [{"metrics": str(p), "version": r.get("version"), metric: v}
                                  for (p, r), v in zip(reports, values, strict=True)],
             "set": datetime.date.today().isoformat(), "note": args.note}
    floors.setdefault("floors", {})[key] = entry
    write_text_atomic(floors_path, json.dumps(floors, indent=2) + "\n")
    print(f"wrote floor {proposal['floor']:.3f} for {key} to {floors_path}")
    return PASS


# ---------------------------------------------------------------- main


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="print the report and fail when the metric is below the floor")
    c.add_argument("--metrics", help="a metrics.json written by the evaluation report")
    c.add_argument("--registry", default="registry")
    c.add_argument("--version", default="latest")
    c.add_argument("--split", help="evaluated split, e.g. test_rw")
    c.add_argument("--eval-dir", default="eval",
                   help="folder in the version holding the reports (eval, or evaluations/<data>)")
    c.add_argument("--floor", default=str(DEFAULT_FLOOR), help="floor file (default: %(default)s)")
    c.add_argument("--key", help="floor entry to use (default: <data>/<split> from metrics.json)")
    c.add_argument("--quiet", action="store_true", help="print only the verdict, not the report")
    c.set_defaults(run=check)
    f = sub.add_parser("floor", help="propose a floor from measured runs; --write records it")
    f.add_argument("--metrics", nargs="+", required=True, help="metrics.json of each measured run")
    f.add_argument("--floor", default=str(DEFAULT_FLOOR))
    f.add_argument("--key")
    f.add_argument("--k", type=float, default=3.0, help="standard deviations below the mean (default 3)")
    f.add_argument("--min-margin", type=float, default=0.01, help="least distance below the worst run")
    f.add_argument("--write", action="store_true")
    f.add_argument("--allow-lower", action="store_true")
    f.add_argument("--note", default="", help="what was measured: config, steps, subset, machine")
    f.set_defaults(run=floor_cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except GateError as err:
        print(f"quality gate: cannot judge: {err}", file=sys.stderr)
        return CANNOT_JUDGE


if __name__ == "__main__":
    sys.exit(main())
