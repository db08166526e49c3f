"""configs/ at the top level is the one config folder (issue 26): the package reads it, nothing copies it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from stance.config import config_dir

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_reads_the_top_level_configs_folder():
    link = ROOT / "src" / "stance" / "conf"
    assert link.is_symlink() and link.resolve() == (ROOT / "configs").resolve()
    assert config_dir().resolve() == (ROOT / "configs").resolve()
    for name in ("train", "prepare", "evaluate", "predict"):
        assert (ROOT / "configs" / f"{name}.yaml").is_file()


def test_no_other_config_folder_is_tracked():
    """No stray copy: the only tracked Hydra configs are under configs/ (src/stance/conf is the symlink)."""
    tracked = subprocess.run(["git", "ls-files", "*.yaml"], cwd=ROOT, capture_output=True, text=True, check=True)
    stray = [p for p in tracked.stdout.split() if Path(p).name in ("train.yaml", "predict.yaml")
             and not p.startswith("configs/")]
    assert stray == []
