"""``stance-prepare``: validate a corpus and write prepared splits with a manifest."""

from __future__ import annotations

from omegaconf import DictConfig

from stance.cli.common import run_hydra
from stance.config import PrepareJob, to_dataclass


def task(cfg: DictConfig) -> None:
    from stance.data import prepare

    job = to_dataclass(cfg, PrepareJob)
    prepared = prepare(job.data, job.prepared_root)
    counts = ", ".join(f"{name} {s['pairs']} pairs" for name, s in prepared.manifest["splits"].items())
    dropped = prepared.manifest["dropped"]["rows"]
    print(f"stance-prepare: {prepared.path} ({counts}; {dropped} rows dropped)")


def main() -> None:
    run_hydra("prepare", task)


if __name__ == "__main__":
    main()
