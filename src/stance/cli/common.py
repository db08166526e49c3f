"""Shared plumbing for the Hydra entry points.

Hydra reports a composition error (a misspelt key, a missing group option, a bad
value) in several lines and exits 1; a value no run can use would only fail deep
inside the run, with a traceback. So :func:`run_hydra` first composes the config
from the same command line with Hydra's compose API and checks it as the job
will (:func:`check_overrides`), and only then hands over to ``hydra.main``:
every config mistake is one ``error:`` line naming the key, exit 2, before any work.
"""

from __future__ import annotations

import difflib
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import hydra
import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser  # Hydra's own command line parser: flags read as it reads them
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException
from safetensors import SafetensorError

from stance.cli.distributed import MULTIRUN_UNDER_TORCHRUN, distributed_overrides, export_slurm_env, world_size
from stance.cli.hints import hint_for_missing_config
from stance.config import config_dir
from stance.errors import USER_ERROR_EXIT, ConfigError, StanceError, environment_failure
from stance.schemas import to_dataclass

Job = TypeVar("Job")


def _fields_of(object_type: Any) -> list[str]:
    return list(getattr(object_type, "__dataclass_fields__", {}))


def _omegaconf_line(err: OmegaConfBaseException) -> str:
    """OmegaConf's first line, led by the full key (its later lines repeat the key and the types)."""
    key = getattr(err, "full_key", None)
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, ConfigAttributeError | ConfigKeyError) and key:
        name = key.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(name, _fields_of(getattr(err, "object_type", None)), n=1)
        hint = f"; did you mean {key[: -len(name)]}{close[0]}?" if close else ""
        return f"unknown config key {key}{hint}"
    return f"bad config value for {key}: {first}" if key else f"bad config: {first}"


# Hydra's message for a mistake inside a config file starts with the file: "In 'gate/mine': ...".
_IN_CONFIG_FILE = re.compile(r"^In '([^']+)': ")


def config_error_line(err: Exception) -> str:
    """One line for a Hydra or OmegaConf error, naming the config file, key or group where they say it."""
    if isinstance(err, OmegaConfBaseException):
        return _omegaconf_line(err)
    # A bad key or value inside a config file: Hydra raises its own exception while handling
    # OmegaConf's (the context, not the cause), and names the file in its message.
    cause = next((e for e in (err.__cause__, err.__context__) if isinstance(e, OmegaConfBaseException)), None)
    if cause is not None:
        where = _IN_CONFIG_FILE.match(str(err))
        return (f"{where.group(1)}.yaml: " if where else "") + _omegaconf_line(cause)
    hint = hint_for_missing_config(err)  # lists the configs there are and how to add a folder of one's own
    if hint is not None:
        return hint
    lines = [line.strip() for line in str(err).splitlines() if line.strip() and not line.startswith("See https")]
    return "; ".join(lines) or type(err).__name__


def compose_config(name: str, overrides: list[str], user_dir: str | None = None) -> DictConfig:
    """``<name>.yaml`` with Hydra overrides; its errors as one-line ConfigErrors.

    The config comes from the user's folder when it holds ``<name>.yaml``, else from the
    package; the other folder goes on the search path. (Hydra's compose API finds the
    primary config only in the folder it was initialised with, not through
    ``hydra.searchpath``, hence the two cases.)
    """
    primary, extra = config_dir(), None
    if user_dir is not None:
        folder = Path(user_dir).resolve()
        if not folder.is_dir():
            raise ConfigError(f"--config-dir {user_dir}: no such folder")
        primary, extra = (folder, config_dir()) if (folder / f"{name}.yaml").is_file() else (config_dir(), folder)
    if extra is not None:
        overrides = [f"hydra.searchpath=[file://{extra}]", *overrides]
    try:
        with initialize_config_dir(config_dir=str(primary), version_base="1.3"):
            cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(config_error_line(err)) from err
    except ValueError as err:  # Hydra's defaults list raises plain ValueErrors, e.g. for `group=null`
        raise ConfigError(f"cannot compose config {name!r} with {overrides}: {config_error_line(err)}") from err
    except yaml.YAMLError as err:  # a config file that is not YAML: name the file and line
        mark = getattr(err, "problem_mark", None)
        where = f"{mark.name}:{mark.line + 1}:{mark.column + 1}" if mark else "a config file"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem})") from None
    # A config may read Hydra's own values (`variant: trial${hydra:job.num}` in hparams_search/):
    # make them resolvable as in a real run, then drop the hydra node, which is no part of the job.
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def load_job(cfg: DictConfig, cls: type[Job]) -> Job:
    """The typed job of a composed config, with every value checked (``check()``)."""
    job = to_dataclass(cfg, cls)
    job.check()  # type: ignore[attr-defined]
    return job


def _parse_overrides(overrides: list[str]) -> list[Any]:
    """Hydra's parse of each override, so a syntax error names the override it is in."""
    parser = OverridesParser.create()
    parsed = []
    for line in overrides:
        try:
            parsed += parser.parse_overrides([line])
        except HydraException as err:
            raise ConfigError(f"bad override {line!r}: {config_error_line(err)}") from err
    return parsed


def _sweep_variants(overrides: list[str]) -> list[list[str]]:
    """Override lists that together try every value of every sweep (``a=1,2``, ``b=range(3)``) once.

    Not the full product: each sweep's values are tried with the other sweeps at their first
    value, which finds each bad value in len(values) compositions. Interval sweeps (for
    optimising sweepers) have no values to list; their bounds are left to the sweeper.
    """
    parsed = _parse_overrides(overrides)
    fixed: list[str] = []
    sweeps: list[tuple[str, list[str]]] = []
    for o in parsed:
        if not o.is_sweep_override():
            fixed.append(o.input_line)
            continue
        try:
            values = list(o.sweep_string_iterator())
        except HydraException:
            continue  # interval(...): nothing to enumerate
        sweeps.append((o.get_key_element(), values))
    base = fixed + [f"{key}={values[0]}" for key, values in sweeps if values]
    variants = [base]
    for i, (key, values) in enumerate(sweeps):
        for value in values[1:]:
            variant = list(base)
            variant[len(fixed) + i] = f"{key}={value}"
            variants.append(variant)
    return variants


def check_overrides(config_name: str, cls: type[Job], overrides: list[str], multirun: bool = False,
                    user_dir: str | None = None) -> list[Job]:
    """Compose and check ``config_name`` with a command line's overrides, as the run will; ConfigError if bad."""
    variants = _sweep_variants(overrides) if multirun else [overrides]
    if not multirun:
        _parse_overrides(overrides)
    return [load_job(compose_config(config_name, v, user_dir), cls) for v in variants]


def precheck(config_name: str, cls: type, argv: list[str]) -> None:
    """Check the config a Hydra command line would run, unless it only asks for help or information."""
    args, _ = get_args_parser().parse_known_args(argv)
    if args.help or args.hydra_help or args.info or args.shell_completion or args.experimental_rerun:
        return
    if args.config_path is not None:  # --config-path: Hydra's own resolution; it reports its own errors
        return
    check_overrides(args.config_name or config_name, cls, args.overrides, args.multirun, args.config_dir)


class _OwnInfoOnly(logging.Filter):
    """Console: our own INFO lines and everyone's warnings; libraries' INFO chatter (the ONNX exporter's
    'Replaced initializer ...', 'Fused Gelu: 1') stays in the run's log file only."""

    OWN = ("stance", "__main__", "hydra")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] in self.OWN


def quiet_console() -> None:
    """Filter the console handlers Hydra's job logging installed (the file handler keeps everything)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.addFilter(_OwnInfoOnly())


def run_hydra(config_name: str, cls: type, task: Callable[[DictConfig], Any]) -> None:
    """Run ``task`` as a Hydra app over the packaged ``conf/<config_name>.yaml``, whose job type is ``cls``.

    The task turns its config into the job with :func:`load_job`, as the pre-check did.
    ``task``'s return value goes back to Hydra, so a sweeper (e.g. Optuna) can optimise it.
    """
    try:
        sys.argv += distributed_overrides(sys.argv[1:])
        precheck(config_name, cls, sys.argv[1:])
    except StanceError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)

    def guarded(cfg: DictConfig) -> Any:
        logging.getLogger("stance").setLevel(logging.INFO)
        quiet_console()
        try:
            # A config file can set hydra.mode too, which the command line check above cannot see.
            if world_size() > 1 and HydraConfig.get().mode == RunMode.MULTIRUN:
                raise ConfigError(MULTIRUN_UNDER_TORCHRUN)
            export_slurm_env()  # a job of the submitit launcher (hydra/launcher=slurm_ddp): become a rank
            return task(cfg)
        except StanceError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        except (OSError, SafetensorError) as err:
            failure = environment_failure(err)
            if failure is None:
                raise  # not the machine refusing a write: a bug, keep its traceback
            print(f"error: {failure}", file=sys.stderr)
            sys.exit(failure.exit_code)

    hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=config_name)(guarded)()
