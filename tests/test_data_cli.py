"""``stance-prepare`` run as a user runs it: from another folder, through the
installed console script.  Bad input exits 2 with ``error: ...`` and leaves no
prepared folder behind."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "data"
SCRIPT = shutil.which("stance-prepare") or str(Path(os.sys.executable).parent / "stance-prepare")


def run_prepare(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(cwd / ".hf-cache"),
    }
    return subprocess.run([SCRIPT, *overrides], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_bad_rows_exit_2_list_every_row_and_write_nothing(tmp_path: Path) -> None:
    result = run_prepare(tmp_path, "data=spans_jsonl", f"data.path={FIXTURES / 'bad_spans'}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: 15 problem(s) in 14 row(s) of data=spans_jsonl")
    listed = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert listed == (FIXTURES / "bad_spans" / "expected_errors.txt").read_text().splitlines()
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "prepared").exists()


def test_a_bad_config_value_exits_2_naming_the_key(tmp_path: Path) -> None:
    result = run_prepare(tmp_path, "data=topics_tsv", "data.format=xml")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: bad config value data.format='xml'; expected one of ['span', 'table', 'hub', 'label_studio']"
    )
    assert not (tmp_path / "prepared").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.files.train=nope.tsv"], "error: data.files.train: file '"),
        (
            ["data.path=/no/such/folder"],
            "error: data.path: dataset folder '/no/such/folder' for data=topics_tsv",
        ),
        (
            ["+data.label_map.MAYBE=perhaps"],
            "error: data.label_map maps to ['perhaps'], which are not in data.labels",
        ),
        ([f"data.path={FIXTURES / 'bad_table'}"], "error: 11 problem(s) in 11 row(s) of data=topics_tsv"),
    ],
)
def test_more_bad_input_exits_2(tmp_path: Path, overrides: list[str], message: str) -> None:
    result = run_prepare(tmp_path, "data=topics_tsv", *overrides)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "prepared").exists()


@pytest.mark.slow
def test_good_input_prepares_then_reuses_the_cache(tmp_path: Path) -> None:
    first = run_prepare(tmp_path, "data=topics_tsv")
    assert first.returncode == 0, first.stderr
    [folder] = (tmp_path / "prepared").iterdir()
    summary = first.stdout.splitlines()[-1]
    assert summary.startswith(f"stance-prepare: prepared/{folder.name} (train ")
    second = run_prepare(tmp_path, "data=topics_tsv")
    assert second.stdout.splitlines()[-1] == summary
    assert f"reusing prepared data prepared/{folder.name}" in second.stdout
    assert len(list((tmp_path / "prepared").iterdir())) == 1
