"""``stance-predict``: stance of every sentence toward every actor, from raw articles.

Defaults come from :class:`stance.config.PredictJob` and ``configs/predict.yaml``
(composed with Hydra, so ``--set key=value`` accepts any Hydra override); the flags
below override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from stance.config import PredictJob
from stance.errors import ConfigError, StanceError
from stance.signals import StopRequests

EPILOG = """examples:
  stance-predict article.txt
  stance-predict articles/ --out rows.jsonl --csv rows.csv --summary docs.json
  stance-predict article.txt --actors "China,Russia,NATO" --backend torch
  cat rows.jsonl | stance-predict --format jsonl --out - --set segmentation.enabled=false
  stance-predict articles/ --export label-studio tasks.json --select uncertain --n 300
  stance-predict articles/ --export label-studio round2.json --select uncertain --n 300 --exclude labels.json
"""


# A flag whose dest is a PredictJob field sets that field, so the parser is the one list of
# flags. These fields take special handling instead: their flags give lists, or set export.*.
LIST_FIELDS = ("inputs", "actors", "export")
# Flags that set a key of PredictJob.export (docs/annotation_loop.md).
EXPORT_FLAGS = {"select": "select", "n": "n", "uncertainty": "uncertainty", "whole_documents": "whole_documents",
                "select_seed": "seed", "exclude": "exclude"}
JOB_FIELDS = frozenset(f.name for f in dataclasses.fields(PredictJob)) - set(LIST_FIELDS)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stance-predict", description=__doc__.splitlines()[0], epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="text or JSONL files, folders, or - for stdin (default: stdin)")
    p.add_argument("--version", help="registry version (v0003), 'latest', or a checkpoint folder")
    p.add_argument("--registry", help="registry root (default: ./registry)")
    p.add_argument("--format", dest="input_format", choices=["auto", "text", "jsonl"])
    p.add_argument("--text-field", help="JSONL field holding the text (default: text)")
    p.add_argument("--id-field", help="JSONL field holding the document id (default: id)")
    p.add_argument("--actors", help='only these actors, comma-separated: "China,Russia,NATO"')
    p.add_argument("--alias-table", help="alias table YAML file or folder; 'none' for --actors only")
    p.add_argument("--officials", action=argparse.BooleanOptionalAction, default=None,
                   help="also find titled officials the alias table lacks (default: on)")
    p.add_argument("--mentions", choices=["each", "aggregate"],
                   help="a row per mention, or one per (sentence, actor)")
    p.add_argument("--no-segment", action="store_true", help="each text is one sentence")
    p.add_argument("--line-breaks", choices=["paragraph", "wrap"],
                   help="paragraph: a line break ends a sentence; wrap: only blank lines do")
    p.add_argument("--language", help="segmenter language code (default: en)")
    p.add_argument("--backend", choices=["onnx", "onnx-fp32", "torch"],
                   help="onnx: ONNX Runtime, int8 (default); onnx-fp32: without quantization; torch: PyTorch")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--min-confidence", type=float, metavar="P",
                   help="label rows whose top calibrated probability is below P 'uncertain' (model_label keeps "
                        "the model's label)")
    p.add_argument("--threads", type=int, help="CPU threads (default: available CPUs, at most 8)")
    p.add_argument("--out", help="JSONL output file, or - for stdout")
    p.add_argument("--csv", help="CSV output file")
    p.add_argument("--summary", help="per-document aggregates (JSON)")
    p.add_argument("--table", action=argparse.BooleanOptionalAction, default=None, help="print a table")
    p.add_argument("--export", nargs=2, metavar=("FORMAT", "FILE"),
                   help="also write tasks for labelling: 'label-studio tasks.json' (docs/annotation_loop.md)")
    p.add_argument("--select", choices=["all", "uncertain", "random", "stratified"],
                   help="which pairs --export writes (default: all); the others need --n")
    p.add_argument("--n", type=int, help="how many pairs --select picks")
    p.add_argument("--uncertainty", choices=["margin", "entropy"],
                   help="--select uncertain ranks by this, on the calibrated probabilities (default: margin)")
    p.add_argument("--whole-documents", action="store_true", default=None,
                   help="--select takes whole documents: all their pairs or none")
    p.add_argument("--select-seed", type=int, help="seed of --select random and stratified (default: 0)")
    p.add_argument("--exclude", action="append", metavar="FILE",
                   help="a tasks file or Label Studio JSON export of an earlier round (or of the held-out set): "
                        "the pairs its tasks showed are not exported again; repeatable")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar")
    p.add_argument("--onnx-cache", help="folder for ONNX exports of read-only versions")
    p.add_argument("--export-only", action="store_true", help="build the ONNX export of --backend and exit")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config key (Hydra override), e.g. --set segmentation.language=de")
    p.add_argument("--config-dir", help="a folder of your own configs, added to Hydra's search path")
    p.add_argument("--config-name", default="predict",
                   help="the config to compose (default: predict); e.g. one of yours in --config-dir")
    return p


def compose_job(overrides: list[str], user_dir: str | None = None, name: str = "predict") -> PredictJob:
    """``<name>.yaml`` (from ``user_dir`` when it holds one) with Hydra overrides, as a typed PredictJob."""
    if not overrides and user_dir is None and name == "predict":
        # The packaged predict.yaml holds only its schema, so composing it gives PredictJob's
        # defaults (tests/test_predict_onnx.py checks it). Skipping Hydra here saves about half a
        # second of every plain stance-predict call: its import and its composition.
        return PredictJob()
    # Imported here for the same reason: Hydra and OmegaConf only when there is something to compose.
    from stance.cli.common import compose_config
    from stance.schemas import to_dataclass

    return to_dataclass(compose_config(name, overrides, user_dir), PredictJob)


def apply_flags(job: PredictJob, args: argparse.Namespace) -> None:
    """Flags given on the command line win over the config file; a flag left out is None."""
    for name, value in vars(args).items():
        if name in JOB_FIELDS and value is not None:
            setattr(job, name, value)
    if args.inputs:
        job.inputs = list(args.inputs)
    if args.actors is not None:
        job.actors = [a.strip() for a in args.actors.split(",") if a.strip()]
    if args.no_segment:
        job.segmentation.enabled = False
    if args.line_breaks:
        job.segmentation.line_breaks = args.line_breaks
    if args.language:
        job.segmentation.language = args.language
    if args.export:
        job.export.format, job.export.path = args.export
    for flag, key in EXPORT_FLAGS.items():
        if getattr(args, flag) is not None:
            setattr(job.export, key, getattr(args, flag))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger("stance").setLevel(logging.INFO)  # e.g. "exporting to ONNX", which takes a while
    # Imported here, not at the top: `--help` and a mistyped flag should not wait for
    # onnxruntime, tokenizers and the segmenter (the package itself imports no torch).
    from stance.predict import load_predictor, resolve_version, run_prediction

    try:
        job = compose_job(args.set, args.config_dir, args.config_name)
        apply_flags(job, args)
        job.check()
        if args.export_only:
            if job.backend == "torch":
                raise ConfigError("--export-only needs --backend onnx or onnx-fp32")
            path = resolve_version(job.version, job.registry)
            predictor = load_predictor(path, job.backend, job.onnx_cache, job.threads)
            print(f"stance-predict: ONNX export at {predictor.onnx_path}")
            return 0
        # SIGINT/SIGTERM: one line and exit 130/143; the outputs are all written or all untouched.
        with StopRequests(immediate=True).installed() as stop:
            run_prediction(job, stop=stop)
    except StanceError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
