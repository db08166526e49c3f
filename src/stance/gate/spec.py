"""A gate spec by name (``configs/gate/<name>.yaml``) or path, as the typed :class:`GateConfig`.

``stance-evaluate gate=NAME`` composes the spec through Hydra; the script,
which judges a training run's evaluation without Hydra's command line, loads
it here. Both end in the same dataclass and the same checks.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError

from stance.config import CONFIG_DIR, GateConfig
from stance.errors import ConfigError
from stance.schemas import to_dataclass

GATE_GROUP = CONFIG_DIR / "gate"


def spec_names() -> list[str]:
    return sorted(p.stem for p in GATE_GROUP.glob("*.yaml"))


def spec_path(name_or_path: str) -> Path:
    """``ci`` is ``configs/gate/ci.yaml``; anything with a suffix or a slash is a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        if not path.is_file():
            raise ConfigError(f"no gate spec file {path}")
        return path
    if not (GATE_GROUP / f"{name_or_path}.yaml").is_file():
        raise ConfigError(f"no gate spec {name_or_path!r}; expected one of {spec_names()} or a YAML path")
    return GATE_GROUP / f"{name_or_path}.yaml"


def load_spec(name_or_path: str) -> GateConfig:
    path = spec_path(name_or_path)
    try:
        raw = OmegaConf.load(path)
    except (YAMLError, OmegaConfBaseException) as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    try:
        spec = to_dataclass(raw, GateConfig)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if isinstance(raw, dict | DictConfig) and "name" not in raw:
        spec.name = path.stem  # a file given by path is named by it, as a Hydra group option is by its choice
    spec.check()
    return spec
