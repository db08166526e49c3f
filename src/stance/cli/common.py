"""Shared plumbing for the Hydra entry points."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from stance.config import config_dir
from stance.errors import USER_ERROR_EXIT, StanceError


def run_hydra(config_name: str, task: Callable[[DictConfig], None]) -> None:
    """Run ``task`` as a Hydra app over ``configs/<config_name>.yaml``."""
    path = str(config_dir())

    def guarded(cfg: DictConfig) -> None:
        logging.getLogger("stance").setLevel(logging.INFO)
        try:
            task(cfg)
        except StanceError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)

    hydra.main(version_base="1.3", config_path=path, config_name=config_name)(guarded)()
