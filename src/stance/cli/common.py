"""Shared plumbing for the Hydra entry points."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from stance.config import ConfigError, config_dir
from stance.data import DataError
from stance.labels import UnknownLabelError
from stance.registry import RegistryError

# Errors a user can fix; they get one clear line and exit status 2 instead of a traceback.
USER_ERRORS = (ConfigError, DataError, RegistryError, UnknownLabelError, FileNotFoundError)


def run_hydra(config_name: str, task: Callable[[DictConfig], None]) -> None:
    """Run ``task`` as a Hydra app over ``configs/<config_name>.yaml``."""
    try:
        path = str(config_dir())
    except ConfigError as err:
        sys.exit(f"error: {err}")

    def guarded(cfg: DictConfig) -> None:
        logging.getLogger("stance").setLevel(logging.INFO)
        try:
            task(cfg)
        except USER_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    hydra.main(version_base="1.3", config_path=path, config_name=config_name)(guarded)()
