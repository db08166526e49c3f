"""``stance-predict-ray``: label a large corpus on Ray Data (the `ray` extra); rows as ``stance-predict``'s.

    stance-predict-ray --version latest --out labels/ --workers 4 corpus/
    RAY_ADDRESS=ray://head:10001 stance-predict-ray ...   # the same on a cluster

Writes one JSONL shard per input file under ``OUT/shards/`` and their merge,
in input order, as ``OUT/rows.jsonl``; a rerun skips files already labelled.
"""

from __future__ import annotations

import argparse
import sys

from stance.config import PredictJob
from stance.errors import USER_ERROR_EXIT, StanceError
from stance.predict.ray_batch import label_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="text or JSONL files, or folders of them")
    parser.add_argument("--out", required=True, help="output folder (shards/ and rows.jsonl)")
    parser.add_argument("--version", default=PredictJob.version)
    parser.add_argument("--registry", default=PredictJob.registry)
    parser.add_argument("--workers", type=int, default=2, help="Ray actors, one model each")
    parser.add_argument("--backend", default=PredictJob.backend, help="torch | onnx | onnx-fp32")
    parser.add_argument("--mentions", default=PredictJob.mentions, help="each | aggregate")
    parser.add_argument("--batch-size", type=int, default=PredictJob.batch_size)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per actor (default 1)")
    args = parser.parse_args(argv)
    job = PredictJob(version=args.version, registry=args.registry, inputs=args.inputs, backend=args.backend,
                     mentions=args.mentions, batch_size=args.batch_size, threads=args.threads)
    try:
        if args.workers < 1:
            raise StanceError(f"--workers={args.workers} must be at least 1")
        result = label_corpus(job, args.out, args.workers)
    except ModuleNotFoundError as err:
        if err.name != "ray":
            raise
        print("error: stance-predict-ray needs Ray: pip install 'stance[ray]'", file=sys.stderr)
        return USER_ERROR_EXIT
    except StanceError as err:  # the workers return their files' errors as data (ray_batch.LabelFiles)
        print(f"error: {err}", file=sys.stderr)
        return USER_ERROR_EXIT
    print(f"stance-predict-ray: {result.n_rows} rows from {len(result.files)} files "
          f"({len(result.skipped)} already done) in {result.seconds} s -> {result.merged}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
