"""Shared plumbing for the Hydra entry points."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from stance.cli.distributed import MULTIRUN_UNDER_TORCHRUN, distributed_overrides, export_slurm_env, world_size
from stance.config import config_dir
from stance.errors import USER_ERROR_EXIT, ConfigError, StanceError


def run_hydra(config_name: str, task: Callable[[DictConfig], Any]) -> None:
    """Run ``task`` as a Hydra app over the packaged ``conf/<config_name>.yaml``.

    ``task``'s return value goes back to Hydra, so a sweeper (e.g. Optuna) can optimise it.
    """
    path = str(config_dir())
    try:
        sys.argv += distributed_overrides(sys.argv[1:])
    except StanceError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)

    def guarded(cfg: DictConfig) -> Any:
        logging.getLogger("stance").setLevel(logging.INFO)
        try:
            # A config file can set hydra.mode too, which the command line check above cannot see.
            if world_size() > 1 and HydraConfig.get().mode == RunMode.MULTIRUN:
                raise ConfigError(MULTIRUN_UNDER_TORCHRUN)
            export_slurm_env()  # a job of the submitit launcher (hydra/launcher=slurm_ddp): become a rank
            return task(cfg)
        except StanceError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)

    hydra.main(version_base="1.3", config_path=path, config_name=config_name)(guarded)()
