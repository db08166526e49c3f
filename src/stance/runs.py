"""Training runs' work folders: where Trainer's checkpoints live until a version is published.

    <work_dir>/<config key>/run-<pid>-<ns>/
        .lock            held with flock(LOCK_EX) by the live run: a run whose lock is free is dead
        checkpoint-N/    Trainer's checkpoints: weights, optimizer, scheduler, RNG, trainer_state.json

The config key is a hash of the resolved config without its output paths, so
``train.resume=auto`` finds the interrupted runs of the same config wherever the
outputs go. A run that publishes its version removes its folder; an interrupted
or diverged run leaves it for resuming or inspection, and ``stance-models gc``
removes the dead ones that nothing can resume (or that are older than N days).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stance.files import sha256_text
from stance.locks import FolderLock, is_live
from stance.version_format import MANIFEST

RUN_PREFIX = "run-"
# Written into a run's folder just before its version is renamed into the registry: which version
# it becomes. A folder whose named version exists (with this run in its manifest) is finished work,
# never resumed (a SIGKILL after the rename would otherwise train and publish the same version again).
PUBLISHED = "published.json"
DIVERGED = "diverged.json"  # a run that stopped on a non-finite loss: kept to inspect, never resumed
# Where a run writes, and what only changes how it reports: not part of what it trains.
_NOT_IN_KEY = (("registry",), ("prepared_root",), ("work_dir",), ("note",), ("train", "resume"),
               ("train", "progress"))


def config_key(job: Any) -> str:
    """A short hash of a TrainJob's resolved settings, output paths excluded."""
    settings = asdict(job)
    for path in _NOT_IN_KEY:
        node = settings
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    return sha256_text(json.dumps(settings, sort_keys=True, default=str))[:16]


def complete_checkpoints(run: Path) -> list[Path]:
    """Checkpoints Trainer finished writing, oldest first.

    Trainer writes ``trainer_state.json`` last, after the weights, optimizer and
    RNG states; a SIGKILL during a save leaves it missing or cut short.
    """
    found = []
    for ckpt in Path(run).glob("checkpoint-*"):
        try:
            json.loads((ckpt / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        if (ckpt / "model.safetensors").is_file() and (ckpt / "optimizer.pt").is_file():
            found.append(ckpt)
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


@dataclass
class Run:
    """A run's work folder, held by this process; ``checkpoint`` is where a resumed run continues."""

    path: Path
    checkpoint: Path | None
    lock: FolderLock | None

    def mark_published(self, registry: Path, version: str) -> None:
        (self.path / PUBLISHED).write_text(json.dumps({"registry": str(Path(registry).resolve()),
                                                       "version": version}))

    def mark_diverged(self, message: str) -> None:
        (self.path / DIVERGED).write_text(json.dumps({"error": message}))

    def close(self, remove: bool) -> None:
        if self.lock is not None:
            self.lock.release()
        if remove:
            shutil.rmtree(self.path, ignore_errors=True)
            try:
                self.path.parent.rmdir()  # the config key's folder, once its last run is gone
            except OSError:
                pass  # other runs of this config are still there


def published_version(run: Path) -> Path | None:
    """The version a run folder was published as, if that version exists and names this run."""
    try:
        info = json.loads((Path(run) / PUBLISHED).read_text())
        manifest = json.loads((Path(info["registry"]) / info["version"] / MANIFEST).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not published, or killed between the marker and the rename: resumable
    return Path(info["registry"]) / info["version"] if manifest.get("run") == Path(run).name else None


def finished(run: Path) -> bool:
    """Published or diverged: nothing to resume."""
    return (Path(run) / DIVERGED).is_file() or published_version(run) is not None


def resumable_runs(key_dir: Path) -> list[Path]:
    """Dead runs under one config key that have a complete checkpoint, newest checkpoint first."""
    runs = [p for p in Path(key_dir).glob(f"{RUN_PREFIX}*") if p.is_dir() and not is_live(p) and not finished(p)]
    with_ckpt = [(ckpts[-1], run) for run in runs if (ckpts := complete_checkpoints(run))]
    return [run for ckpt, run in sorted(with_ckpt, key=lambda c: c[0].stat().st_mtime, reverse=True)]


def open_run(work_dir: str | Path, job: Any, resume: bool, lock: bool = True) -> Run:
    """The folder this run trains in: the newest interrupted run of the same config, or a new one.

    ``lock=False`` for the non-zero ranks of a distributed launch, which share rank 0's folder.
    """
    key_dir = Path(work_dir) / config_key(job)
    if resume:
        for candidate in resumable_runs(key_dir):
            held = FolderLock(candidate)
            if held.acquire():  # another resumer may have taken it since we looked
                ckpts = complete_checkpoints(candidate)
                if ckpts:
                    return Run(candidate, ckpts[-1], held)
                held.release()
    # Under torchrun/accelerate every rank must see the same Trainer output_dir;
    # TORCHELASTIC_RUN_ID is shared by the ranks of one launch.
    run_id = os.environ.get("TORCHELASTIC_RUN_ID") or f"{os.getpid()}-{time.time_ns()}"
    path = key_dir / f"{RUN_PREFIX}{run_id}"
    path.mkdir(parents=True, exist_ok=True)
    held = FolderLock(path) if lock else None
    if held is not None and not held.acquire():
        raise RuntimeError(f"{path} is locked by another process")
    return Run(path, None, held)


def stale_runs(work_dir: str | Path, max_age_days: float) -> list[Path]:
    """Dead run folders that nothing will resume (no checkpoint, published, diverged), or whose last
    change is older than ``max_age_days``."""
    now = time.time()
    stale = []
    # run-* directly under work_dir: the layout before config keys, never resumable.
    for run in sorted([*Path(work_dir).glob(f"*/{RUN_PREFIX}*"), *Path(work_dir).glob(f"{RUN_PREFIX}*")]):
        if not run.is_dir() or is_live(run):
            continue
        ckpts = complete_checkpoints(run)
        newest = max((p.stat().st_mtime for p in [run, *ckpts]), default=0.0)
        if not ckpts or finished(run) or now - newest > max_age_days * 86400:
            stale.append(run)
    return stale


# A prepare that was killed leaves its staging folder ``prepared/.<name>-<fingerprint>-XXXX``; one
# untouched this long is dead (a live prepare writes into it every few seconds).
PREPARE_TEMP_AGE_S = 3600


def stale_prepare_temporaries(prepared_root: str | Path) -> list[Path]:
    """Staging folders of killed ``stance-prepare`` runs (hidden ``.<name>-*`` folders, idle an hour)."""
    root = Path(prepared_root)
    if not root.is_dir():
        return []
    now = time.time()
    return [p for p in sorted(root.glob(".*-*")) if p.is_dir() and now - p.stat().st_mtime > PREPARE_TEMP_AGE_S]
