"""``stance-prepare``: validate a corpus and write prepared splits with a manifest.

``stance-prepare --inspect ...`` (or ``inspect=true``) shows what the data config reads and writes nothing.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from stance.cli.common import load_job, run_hydra
from stance.cli.overrides import name_custom_data
from stance.config import PrepareJob
from stance.errors import DataError


def task(cfg: DictConfig) -> None:
    from stance.data import prepare
    from stance.data.inspect import inspect_corpus
    from stance.data.label_studio import summary as label_studio_summary

    name_custom_data(cfg)
    job = load_job(cfg, PrepareJob)
    if job.inspect:
        report, problems = inspect_corpus(job.data)
        print(report)
        if problems and not job.data.drop_invalid:
            raise DataError(f"{len(problems)} problem(s) listed above would stop stance-prepare; fix them or set "
                            "data.drop_invalid=true")
        return
    prepared = prepare(job.data, job.prepared_root)
    counts = ", ".join(f"{name} {s['pairs']} pairs" for name, s in prepared.manifest["splits"].items())
    dropped = prepared.manifest["dropped"]["rows"]
    print(f"stance-prepare: {prepared.path} ({counts}; {dropped} rows dropped)")
    if "label_studio" in prepared.manifest:
        print(label_studio_summary(prepared.manifest["label_studio"]))


def main() -> None:
    # `--inspect` reads like the flag it is; Hydra only takes key=value, so it becomes inspect=true,
    # placed last because argparse wants the overrides in one run after the options.
    if "--inspect" in sys.argv:
        sys.argv = [arg for arg in sys.argv if arg != "--inspect"] + ["inspect=true"]
    run_hydra("prepare", PrepareJob, task)


if __name__ == "__main__":
    main()
