"""What the command line changed, and what follows from it for the run's names.

A bundled data config read from other files is other data: a run that overrides
``data.path`` or ``data.files`` without ``data.name`` must not be filed (prepared
folder, model card, ``evaluations/<name>/``) under the bundled corpus's name.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _overridden_keys(overrides: list[str]) -> set[str]:
    """``data.path`` for ``data.path=...``, ``+data.path=...`` or ``++data.path=...``; group choices kept as is."""
    return {item.split("=", 1)[0].lstrip("+~") for item in overrides if "=" in item}


def custom_data_name(name: str, path: str, overrides: list[str]) -> str | None:
    """The name for data whose files the command line changed, or None when the name stands.

    ``data.path`` overridden: ``<config name>-<folder name>`` (the files' folder names the data; the
    config's name says how it is read). Only ``data.files`` overridden: ``<config name>-custom``.
    ``data.name`` given on the command line always wins.
    """
    keys = _overridden_keys(overrides)
    if "data.name" in keys:
        return None
    if "data.path" in keys:
        folder = _UNSAFE.sub("_", Path(path).expanduser().resolve().name).strip("_") or "custom"
        return f"{name}-{folder}"
    if any(k == "data.files" or k.startswith("data.files.") for k in keys):
        return f"{name}-custom"
    return None


def name_custom_data(cfg: DictConfig) -> None:
    """Rename ``cfg.data`` in place when this run's overrides point it at other files; logs the new name."""
    if "data" not in cfg:
        return
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    new = custom_data_name(str(cfg.data.name), str(cfg.data.path), overrides)
    if new is not None:
        log.info("data.path/data.files overridden without data.name: naming this data %r, not %r "
                 "(set data.name=... to choose)", new, cfg.data.name)
        cfg.data.name = new
