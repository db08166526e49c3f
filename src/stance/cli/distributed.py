"""Multi-process launches: torchrun's ranks under Hydra, and SLURM tasks turned into torchrun-style ranks.

We write no launcher: torchrun (or accelerate) starts the processes on one
node, Hydra's submitit launcher submits SLURM jobs, and Trainer/accelerate
join the process group from the standard ``env://`` variables. This module
only keeps Hydra's per-run files apart between ranks, and gives each SLURM task
the variables torchrun would have given it.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

from stance.errors import ConfigError

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


# ---------------------------------------------------------------- SLURM


def first_host(nodelist: str) -> str:
    """The first host of a SLURM hostlist (``gpu[03-04,07],cpu1`` -> ``gpu03``).

    By hand because only the first host is needed and ``scontrol show hostnames``
    is not on every compute node's PATH; the rendezvous host must be the same
    string on every node, and SLURM lists nodes in the same order everywhere.
    """
    match = re.match(r"([^,\[]+)(?:\[([^],-]+))?", nodelist.strip())
    if not match:
        raise ConfigError(f"cannot read SLURM_JOB_NODELIST={nodelist!r}")
    return match.group(1) + (match.group(2) or "")


def torchrun_env_from_slurm(env: Mapping[str, str]) -> dict[str, str]:
    """The variables torchrun gives each worker, computed from a SLURM task's own.

    One SLURM task per GPU (``tasks_per_node = gpus_per_node`` in
    ``conf/hydra/launcher/slurm_ddp.yaml``): task ``SLURM_PROCID`` is global rank
    ``RANK``, the first node of the allocation hosts the rendezvous, and the port
    is derived from the job id so every node computes the same one (unless the
    job sets ``MASTER_PORT`` itself). Empty outside a multi-task SLURM job.
    """
    if "SLURM_JOB_ID" not in env or int(env.get("SLURM_NTASKS", "1")) <= 1:
        return {}
    ntasks, nnodes = int(env["SLURM_NTASKS"]), int(env.get("SLURM_JOB_NUM_NODES", env.get("SLURM_NNODES", "1")))
    job = env["SLURM_JOB_ID"]
    return {
        "MASTER_ADDR": first_host(env.get("SLURM_JOB_NODELIST") or env["SLURM_NODELIST"]),
        "MASTER_PORT": env.get("MASTER_PORT") or str(20000 + int(job) % 40000),
        "WORLD_SIZE": str(ntasks),
        "RANK": env["SLURM_PROCID"],
        "LOCAL_RANK": env["SLURM_LOCALID"],
        "LOCAL_WORLD_SIZE": str(ntasks // nnodes),
        "NODE_RANK": env["SLURM_NODEID"],
        "GROUP_RANK": env["SLURM_NODEID"],
        "NNODES": str(nnodes),
        # Shared by every task of the job: the same Trainer scratch folder (pipeline._work_dir).
        "TORCHELASTIC_RUN_ID": f"slurm-{job}",
    }


def export_slurm_env(env: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Inside a SLURM job not started by torchrun: export ``torchrun_env_from_slurm``; returns what it set."""
    if "WORLD_SIZE" in env:  # torchrun (or the user) already set up the ranks
        return {}
    exported = torchrun_env_from_slurm(env)
    env.update(exported)
    return exported
