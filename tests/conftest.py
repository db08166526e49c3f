"""Shared fixtures: real config files composed with Hydra, tiny models, temp registries."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from stance.config import TrainJob, config_dir
from stance.schemas import to_dataclass  # noqa: E402

CONFIGS = config_dir()
NEWSMTSC = Path(os.environ.get("STANCE_NEWSMTSC_DIR", Path(__file__).resolve().parents[2] / "shared/data/newsmtsc"))
# data=newsmtsc reads the variable (the shipped config names no path of ours); developers and CI keep
# the corpus beside the clone.
os.environ.setdefault("STANCE_NEWSMTSC_DIR", str(NEWSMTSC))


def compose_config(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def tiny_train_job(tmp: Path, *overrides: str) -> TrainJob:
    """``stance-train debug=tiny`` with every output under ``tmp``."""
    cfg = compose_config("train", ["debug=tiny", f"registry={tmp}/registry", f"prepared_root={tmp}/prepared",
                                   f"work_dir={tmp}/runs", *overrides])
    return to_dataclass(cfg, TrainJob)


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., TrainJob]:
    return lambda *overrides: tiny_train_job(tmp_path, *overrides)


@pytest.fixture(scope="session")
def tiny_version(tmp_path_factory) -> Path:
    """One trained tiny version, shared by tests that only read it."""
    from stance.pipeline import run_training

    tmp = tmp_path_factory.mktemp("tiny")
    return run_training(tiny_train_job(tmp)).path
