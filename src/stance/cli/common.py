"""Shared plumbing for the Hydra entry points."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import hydra
from omegaconf import DictConfig

from stance.config import config_dir
from stance.errors import StanceError


def run_hydra(config_name: str, task: Callable[[DictConfig], Any]) -> None:
    """Run ``task`` as a Hydra app over the packaged ``conf/<config_name>.yaml``.

    ``task``'s return value goes back to Hydra, so a sweeper (e.g. Optuna) can optimise it.
    """
    path = str(config_dir())

    def guarded(cfg: DictConfig) -> Any:
        logging.getLogger("stance").setLevel(logging.INFO)
        try:
            return task(cfg)
        except StanceError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)

    hydra.main(version_base="1.3", config_path=path, config_name=config_name)(guarded)()
