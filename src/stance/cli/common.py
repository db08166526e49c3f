"""Shared plumbing for the Hydra entry points."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from stance.config import config_dir
from stance.errors import USER_ERROR_EXIT, ConfigError, StanceError

MULTIRUN_UNDER_TORCHRUN = ("--multirun cannot run under torchrun: every rank would run its own sweep and their "
                           "trials would not line up; sweep from one process and let each trial launch its own "
                           "workers (docs/scaling.md)")


def world_size(env: Mapping[str, str] = os.environ) -> int:
    return int(env.get("WORLD_SIZE", "1"))


def launch_id(env: Mapping[str, str] = os.environ) -> str:
    """A name shared by the ranks of one torchrun launch on this node, and new for each launch.

    ``TORCHELASTIC_RUN_ID`` when the launch has one (``--rdzv-id``, ``--standalone``);
    torchrun's static rendezvous sets it to ``none``, so then the elastic agent
    (the ranks' common parent) names it: its start time, host and pid. Hydra's
    ``${now:}`` cannot, because every rank reads its own clock.
    """
    run_id = env.get("TORCHELASTIC_RUN_ID", "none")
    if run_id not in ("", "none"):
        return run_id
    agent = os.getppid()
    return f"{_process_start(agent)}-{socket.gethostname()}-{agent}"


def _process_start(pid: int) -> str:
    """When process ``pid`` started (Linux /proc); the same value for every process that asks."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):  # not Linux: the pid alone names the launch
        return "agent"
    return time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(boot + ticks / os.sysconf("SC_CLK_TCK")))


def distributed_overrides(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """Hydra overrides that let the ranks of one torchrun launch share a run folder without clobbering it.

    Every rank runs this same command line. Without these overrides each one
    resolves its own ``${now:}`` folder (or, within the same second, they all
    write the same ``.hydra/`` files and the same log). With them: one folder
    per launch, ``.hydra/`` written by rank 0 only, and one log file per rank.
    A ``hydra.run.dir=`` the user passes is kept.
    """
    if world_size(env) <= 1:
        return []
    if any(a in ("-m", "--multirun") or a.replace(" ", "") == "hydra.mode=MULTIRUN" for a in argv):
        raise ConfigError(MULTIRUN_UNDER_TORCHRUN)
    rank = int(env.get("RANK", "0"))
    overrides = []
    if not any(a.startswith("hydra.run.dir=") for a in argv):
        overrides.append(f"hydra.run.dir=outputs/torchrun/{launch_id(env)}")
    if rank != 0:
        overrides.append("hydra.output_subdir=null")
    overrides.append("hydra.job_logging.handlers.file.filename="
                     f"${{hydra.runtime.output_dir}}/${{hydra.job.name}}_rank{rank}.log")
    return overrides


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
            return task(cfg)
        except StanceError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)

    hydra.main(version_base="1.3", config_path=path, config_name=config_name)(guarded)()
