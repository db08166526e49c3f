"""``stance-prepare``: validate a corpus and write prepared splits with a manifest."""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import load_job, run_hydra
from stance.config import PrepareJob


def task(cfg: DictConfig) -> None:
    from stance.data import prepare

    job = load_job(cfg, PrepareJob)
    prepared = prepare(job.data, job.prepared_root)
    counts = ", ".join(f"{name} {s['pairs']} pairs" for name, s in prepared.manifest["splits"].items())
    dropped = prepared.manifest["dropped"]["rows"]
    print(f"stance-prepare: {prepared.path} ({counts}; {dropped} rows dropped)")


def main() -> None:
    run_hydra("prepare", PrepareJob, task)


if __name__ == "__main__":
    main()
