#!/usr/bin/env python
"""CI quality gate: judge a version's evaluation against a gate spec and a baseline.

    # judge the CI fine-tune's own evaluation (what .ci/run does):
    python scripts/quality_gate.py check --registry registry --version latest --gate ci \\
        --baseline benchmarks/gate/newsmtsc_test_rw.jsonl --out gate --junit gate/junit.xml

    # keep a baseline in a repository without copying the data's text:
    python scripts/quality_gate.py baseline registry/v0003/eval/test_rw/predictions.jsonl \\
        --out benchmarks/gate/newsmtsc_test_rw.jsonl

    # propose a floor (a spec's `threshold`) from measured runs:
    python scripts/quality_gate.py floor --metrics run1/metrics.json run2/metrics.json run3/metrics.json

``check`` reads what the evaluation wrote (``<split>/metrics.json`` and
``predictions.jsonl``) and never loads a model. The spec is a name in
``configs/gate/`` or a YAML path; ``--baseline`` is a predictions file, a
version folder (a CI artifact) or a version in the registry. It writes
summary.md (appended to $GITHUB_STEP_SUMMARY when set), junit.xml, metrics.json
and report.html to ``--out``, prints the summary, and exits 0 when every check
holds, 1 when one fails and 2 when it cannot judge (a split not evaluated, a
baseline scored on other pairs, a bad spec). docs/evaluation.md has the details.
``stance-evaluate ... gate=NAME baseline=VERSION`` runs the same gate after evaluating.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from stance.config import NO_GATE
from stance.errors import StanceError, environment_failure
from stance.evaluation.predictions import anonymised, read_predictions, write_predictions
from stance.gate.baseline import GateError, baseline_ref, read_baseline
from stance.gate.judge import CANNOT_JUDGE, PASS, judge
from stance.gate.outputs import write_outputs
from stance.gate.spec import load_spec, spec_names
from stance.registry import Registry
from stance.version_format import EVAL_DIR

# ---------------------------------------------------------------- check


def results_dir(args: argparse.Namespace) -> tuple[Path, str]:
    """The folder holding ``<split>/`` results, and the name of the version they belong to."""
    if args.results:
        folder = Path(args.results)
        return folder, args.name or folder.resolve().name
    version = Registry(args.registry).resolve(args.version)
    return version / args.eval_dir, version.name


def check(args: argparse.Namespace) -> int:
    spec = load_spec(args.gate)
    if not spec.enabled:  # gate none checks nothing: it would pass whatever was evaluated
        raise GateError(f"--gate {args.gate} has no split to check; name a spec with checks "
                        f"(configs/gate/: {', '.join(n for n in spec_names() if n != NO_GATE)}) or a YAML path")
    folder, version = results_dir(args)
    ref = baseline_ref(args.baseline, args.registry, "--baseline ") if args.baseline else None
    data = args.data

    def rows_for(split: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return read_baseline(ref, split, data)[0]

    result = judge(spec, folder, version, ref.stem if ref else None, rows_for if ref else None)
    paths = write_outputs(result, Path(args.out), Path(args.junit) if args.junit else None)
    if args.quiet:
        for c in result.failures:
            print(f"FAIL {c.message}")
        print(result.verdict_line())
    else:  # the summary lists the failures and ends with the verdict
        print(paths["summary"].read_text(encoding="utf-8"), end="")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return result.exit_code


# ---------------------------------------------------------------- baseline


def baseline_cmd(args: argparse.Namespace) -> int:
    rows = read_predictions(Path(args.predictions))
    write_predictions(Path(args.out), anonymised(rows))
    print(f"wrote {len(rows)} anonymised rows (digests, gold, prediction, probabilities; no text) to {args.out}")
    return PASS


# ---------------------------------------------------------------- floor


def read_metric(path: Path, metric: str) -> float:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("metrics", {}).get(metric)
    except (OSError, json.JSONDecodeError, AttributeError) as err:
        raise GateError(f"{path}: not a readable metrics.json ({err})") from None
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise GateError(f"{path}: metrics.{metric} is missing or not a number ({value!r})")
    return float(value)


def propose_floor(values: list[float], k: float, min_margin: float) -> dict[str, Any]:
    """A floor ``k`` standard deviations below the mean of measured runs, and at least
    ``min_margin`` below the worst of them, rounded down to 3 decimals."""
    if len(values) < 2:
        raise GateError("measure at least two runs (different seeds) to estimate the noise")
    mean, sd = statistics.mean(values), statistics.stdev(values)
    floor = min(mean - k * sd, min(values) - min_margin)
    # The epsilon keeps float noise (0.58 stored as 0.5799999...) from costing a thousandth.
    return {"floor": max(0.0, math.floor(floor * 1000 + 1e-9) / 1000), "mean": mean, "sd": sd}


def floor_cmd(args: argparse.Namespace) -> int:
    values = [read_metric(Path(p), args.metric) for p in args.metrics]
    proposal = propose_floor(values, args.k, args.min_margin)
    print(f"{args.metric} over {len(values)} runs: " + ", ".join(f"{v:.4f}" for v in values))
    print(f"mean {proposal['mean']:.4f}, sd {proposal['sd']:.4f} -> proposed floor {proposal['floor']:.3f}")
    print(f"in the gate spec: {args.metric}: {{threshold: {proposal['floor']:.3f}}}")
    return PASS


# ---------------------------------------------------------------- main


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="judge a version's evaluation; exit 0 pass, 1 fail, 2 cannot judge")
    c.add_argument("--gate", default="ci", help="spec: a name in configs/gate/ or a YAML path (default: %(default)s)")
    c.add_argument("--baseline", help="predictions file, version folder, or version name in --registry")
    c.add_argument("--registry", default="registry")
    c.add_argument("--version", default="latest")
    c.add_argument("--eval-dir", default=EVAL_DIR,
                   help="folder in the version holding <split>/ results (eval, or evaluations/<data>)")
    c.add_argument("--results", help="any folder holding <split>/ results, instead of --registry/--version")
    c.add_argument("--name", help="name shown for --results (default: the folder's name)")
    c.add_argument("--data", help="data name, to find a baseline version's evaluations/<data>/ results")
    c.add_argument("--out", default="gate", help="folder for summary.md, junit.xml, metrics.json, report.html")
    c.add_argument("--junit", help="JUnit XML path (default: <out>/junit.xml)")
    c.add_argument("--quiet", action="store_true", help="print only the failures and the verdict")
    c.set_defaults(run=check)
    b = sub.add_parser("baseline", help="an anonymised copy of a predictions file, to commit as a baseline")
    b.add_argument("predictions", help="a predictions.jsonl written by an evaluation")
    b.add_argument("--out", required=True)
    b.set_defaults(run=baseline_cmd)
    f = sub.add_parser("floor", help="propose a floor from measured runs (their metrics.json)")
    f.add_argument("--metrics", nargs="+", required=True, help="metrics.json of each measured run")
    f.add_argument("--metric", default="macro_f1")
    f.add_argument("--k", type=float, default=3.0, help="standard deviations below the mean (default 3)")
    f.add_argument("--min-margin", type=float, default=0.01, help="least distance below the worst run")
    f.set_defaults(run=floor_cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except StanceError as err:
        print(f"quality gate: cannot judge: {err}", file=sys.stderr)
        return CANNOT_JUDGE
    except OSError as err:
        failure = environment_failure(err)
        if failure is None:
            raise  # not the machine refusing a read or write: a bug, keep its traceback
        print(f"quality gate: cannot judge: {failure}", file=sys.stderr)
        return CANNOT_JUDGE


if __name__ == "__main__":
    sys.exit(main())
