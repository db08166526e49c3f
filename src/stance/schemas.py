"""Hydra's view of the config dataclasses in :mod:`stance.config`.

Each job dataclass is registered with Hydra's ConfigStore as the schema of its
command's primary config, so every key a YAML file leaves out has the dataclass
default and a misspelt key fails at composition.  :func:`to_dataclass` turns a
composed config into the typed object; OmegaConf's structured merge checks types
and unknown keys, and its error names the offending key.  Kept apart from
``stance.config`` so that code which only needs the dataclasses (``stance-predict``
without ``--set``) does not import Hydra and OmegaConf.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stance.config import EvaluateJob, PredictJob, PrepareJob, TrainJob, _minilm_path, _package_path
from stance.errors import ConfigError


def register_resolvers() -> None:
    """``${minilm:}`` is the bundled encoder; ``${pkg:datasets/x}`` a path in the package."""
    if not OmegaConf.has_resolver("minilm"):
        OmegaConf.register_new_resolver("minilm", _minilm_path)
    if not OmegaConf.has_resolver("pkg"):
        OmegaConf.register_new_resolver("pkg", _package_path)


register_resolvers()


# Schemas of the primary configs: conf/<command>.yaml starts its defaults list
# with one of these names, so every key a YAML file leaves out has the
# dataclass default above, and a misspelt key fails at composition.
SCHEMAS = {"train_schema": TrainJob, "prepare_schema": PrepareJob, "evaluate_schema": EvaluateJob,
           "predict_schema": PredictJob}


def register_schemas() -> None:
    store = ConfigStore.instance()
    for name, cls in SCHEMAS.items():
        store.store(name=name, node=cls)


register_schemas()

T = TypeVar("T")


def _unknown_keys(value: Any, cls: type, prefix: str = "") -> list[str]:
    """Keys in ``value`` that ``cls`` has no field for (Hydra's ``+key=`` adds them past the schema)."""
    if not isinstance(value, dict) or not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    unknown = []
    for key, sub in value.items():
        if key not in hints:
            unknown.append(f"{prefix}{key}")
            continue
        hint = hints[key]
        if typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            for name, item in (sub or {}).items():  # e.g. mix.<name> is a DataConfig
                unknown += _unknown_keys(item, typing.get_args(hint)[1], f"{prefix}{key}.{name}.")
        else:
            unknown += _unknown_keys(sub, hint, f"{prefix}{key}.")
    return unknown


def to_dataclass(cfg: DictConfig | dict, cls: type[T]) -> T:
    """Validate a composed config against ``cls`` and return the typed object."""
    plain = OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg
    unknown = _unknown_keys(plain, cls)
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if unknown[1:] else ""
        raise ConfigError(f"unknown config key {unknown[0]}{more}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), cfg)
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        # OmegaConf's message runs over several lines (key, then types); one line, led by the key.
        first = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
        key = getattr(err, "full_key", None)
        raise ConfigError(f"bad config value for {key}: {first}" if key else f"bad config: {first}") from err
    return obj  # type: ignore[return-value]


def to_yaml(obj: Any) -> str:
    """A dataclass (or config) as YAML, for manifests and resolved-config files."""
    return OmegaConf.to_yaml(OmegaConf.structured(obj) if not isinstance(obj, DictConfig) else obj)
