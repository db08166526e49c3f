"""Runs beyond one process: precision and accelerator settings, experiment tracking, torchrun, sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from stance.cli.distributed import (
    MULTIRUN_UNDER_TORCHRUN,
    distributed_overrides,
    export_slurm_env,
    first_host,
    launch_id,
    torchrun_env_from_slurm,
)
from stance.config import TrainJob
from stance.errors import ConfigError
from stance.files import sha256_file
from stance.training.arguments import check_train_config, resolve_precision, training_args

from .conftest import CONFIGS

ROOT = Path(__file__).resolve().parents[1]
# A 2-process run sees the batches in another order than a 1-process run (DistributedSampler
# shards the shuffled indices), so the tiny model's metrics agree only approximately. Measured
# on this machine: |validation macro-F1 difference| 0.0031, |train loss difference| 0.0044.
DDP_TOLERANCE = 0.05


# ---------------------------------------------------------------- precision and accelerator settings


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU resolution")
def test_precision_auto_is_fp32_on_cpu_and_fp16_needs_a_gpu(make_job):
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("bf16") == "bf16"  # Trainer autocasts bf16 on CPU too
    with pytest.raises(ConfigError, match="train.precision=fp16 needs a CUDA GPU"):
        check_train_config(make_job("train.precision=fp16"))
    with pytest.raises(ConfigError, match="train.precision='fp8'"):
        check_train_config(make_job("train.precision=fp8"))
    with pytest.raises(ConfigError, match="dataloader_workers=-1"):
        check_train_config(make_job("train.dataloader_workers=-1"))


def test_accelerator_settings_reach_training_arguments(make_job, tmp_path):
    default = training_args(make_job(), tmp_path, has_validation=True)
    assert (default.bf16, default.fp16, default.torch_compile, default.gradient_checkpointing) == (False,) * 4
    assert default.dataloader_num_workers == 0 and default.report_to == []
    job = make_job("train.precision=bf16", "train.compile=true", "train.gradient_checkpointing=true",
                   "train.dataloader_workers=2", "train.report_to='tensorboard,mlflow'")  # Hydra: quote a comma
    args = training_args(job, tmp_path, has_validation=True, run_name="v0007")
    assert args.bf16 and not args.fp16 and args.torch_compile and args.gradient_checkpointing
    assert args.dataloader_num_workers == 2 and args.report_to == ["tensorboard", "mlflow"]
    assert args.run_name == "v0007"


# ---------------------------------------------------------------- experiment tracking


def test_tensorboard_events_hold_the_training_loss_version_and_config(make_job, tmp_path):
    pytest.importorskip("tensorboard", reason="the `tracking` extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from stance.pipeline import run_training

    threads = torch.get_num_threads()  # CPU weights depend on the thread count: both runs below use 1
    untracked = run_training(make_job("train.threads=1", f"registry={tmp_path}/plain"))
    result = run_training(make_job("train.threads=1", "train.report_to=tensorboard",
                                   f"train.tracking_dir={tmp_path}/tracking"))
    torch.set_num_threads(threads)
    runs = list((tmp_path / "tracking/tensorboard").iterdir())
    assert [r.name for r in runs] == [result.version]
    events = EventAccumulator(str(runs[0]), size_guidance={"tensors": 0, "scalars": 0}).Reload()
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [2, 4, 6]  # debug=tiny: 6 steps, logging_steps=2
    manifest = json.loads((result.path / "manifest.json").read_text())
    # Trainer's train_loss is the mean of the per-step losses, which the logged ones average in pairs.
    assert sum(e.value for e in losses) / 3 == pytest.approx(manifest["training"]["train_loss"], abs=1e-3)
    texts = {tag: events.Tensors(tag)[0].tensor_proto.string_val[0].decode() for tag in events.Tags()["tensors"]}
    assert texts["stance/version/text_summary"] == result.version
    assert "report_to: tensorboard" in texts["stance/config/text_summary"]
    assert manifest["training"]["tracking"]["report_to"] == ["tensorboard"]
    # Tracking observes; the weights are those of the same run without it.
    assert sha256_file(result.path / "model.safetensors") == sha256_file(untracked.path / "model.safetensors")


# ---------------------------------------------------------------- torchrun and Hydra


def test_ranks_of_one_launch_share_a_run_folder_and_keep_their_own_logs():
    env = {"WORLD_SIZE": "2", "RANK": "1", "TORCHELASTIC_RUN_ID": "abc"}
    assert distributed_overrides(["debug=tiny"], {"WORLD_SIZE": "1"}) == []
    assert distributed_overrides(["debug=tiny"], env) == [
        "hydra.run.dir=outputs/torchrun/abc", "hydra.output_subdir=null",
        "hydra.job_logging.handlers.file.filename=${hydra.runtime.output_dir}/${hydra.job.name}_rank1.log"]
    rank0 = distributed_overrides(["hydra.run.dir=mine"], {**env, "RANK": "0"})
    assert rank0 == ["hydra.job_logging.handlers.file.filename="
                     "${hydra.runtime.output_dir}/${hydra.job.name}_rank0.log"]
    # Static rendezvous names every launch "none": the ranks' common parent (the agent) names it instead.
    static = {"WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "none"}
    assert launch_id(static) == launch_id(static) and str(os.getppid()) in launch_id(static)
    for argv in (["-m", "debug=tiny"], ["--multirun"], ["hydra.mode=MULTIRUN"]):
        with pytest.raises(ConfigError, match="--multirun cannot run under torchrun"):
            distributed_overrides(argv, env)


def _python(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


def test_multirun_under_torchrun_is_refused_before_work_starts(tmp_path):
    run = _python(["-m", "stance.cli.train", "-m", "debug=tiny"], tmp_path, {"WORLD_SIZE": "2", "RANK": "0"})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: {MULTIRUN_UNDER_TORCHRUN}"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_two_process_ddp_publishes_one_version_matching_one_process(tmp_path):
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    ddp.mkdir(), single.mkdir()
    run = _python(["-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "stance.cli.train", "debug=tiny",
                   "train.batch_size=4"], ddp)  # 2 x 4 = the global batch of 1 x 8
    assert run.returncode == 0, run.stderr[-3000:]
    assert [p.name for p in (ddp / "registry").glob("v*")] == ["v0001"]
    (folder,) = (ddp / "outputs/torchrun").iterdir()  # one run folder for the launch
    assert sorted(p.name for p in folder.iterdir()) == [".hydra", "common_rank0.log", "common_rank1.log"]
    one = _python(["-m", "stance.cli.train", "debug=tiny", "train.batch_size=8"], single)
    assert one.returncode == 0, one.stderr[-3000:]
    m2, m1 = (json.loads((d / "registry/v0001/manifest.json").read_text()) for d in (ddp, single))
    assert (m2["training"]["world_size"], m1["training"]["world_size"]) == (2, 1)
    assert m2["training"]["global_steps"] == m1["training"]["global_steps"] == 6
    assert m2["training"]["train_loss"] == pytest.approx(m1["training"]["train_loss"], abs=DDP_TOLERANCE)
    for split in ("validation", "test"):
        assert m2["metrics"][split]["macro_f1"] == pytest.approx(m1["metrics"][split]["macro_f1"], abs=DDP_TOLERANCE)


# ---------------------------------------------------------------- sweeps


def test_optuna_search_spaces_compose():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the `sweep` extra")
    for name in ("tiny_optuna", "newsmtsc_optuna"):
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose("train", ["debug=tiny", f"hparams_search={name}"], return_hydra_config=True)
        assert cfg.hydra.sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
        assert cfg.hydra.sweeper.direction == "maximize" and cfg.study == name
        assert set(cfg.hydra.sweeper.params) <= {f"train.{k}" for k in TrainJob().train.__dataclass_fields__}


@pytest.mark.slow
def test_three_trial_optuna_sweep_publishes_a_version_per_trial_and_ranks_them(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the `sweep` extra")
    run = _python(["-m", "stance.cli.train", "debug=tiny", "hparams_search=tiny_optuna",
                   f"hydra.sweep.dir={tmp_path}/multirun"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    manifests = [json.loads(p.read_text()) for p in sorted((tmp_path / "registry").glob("v*/manifest.json"))]
    assert [m["variant"] for m in manifests] == ["trial0", "trial1", "trial2"]
    assert {m["study"] for m in manifests} == {"tiny_optuna"}
    assert len({(m["train"]["learning_rate"], m["train"]["batch_size"]) for m in manifests}) == 3
    scores = {m["version"]: m["metrics"]["validation"]["macro_f1"] for m in manifests}
    best = (tmp_path / "multirun/optimization_results.yaml").read_text()
    assert f"best_value: {max(scores.values())}" in best
    summary = _python([str(ROOT / "scripts/sweep_summary.py"), "--study", "tiny_optuna"], tmp_path)
    assert summary.returncode == 0, summary.stderr
    rows = [line.split(" | ") for line in summary.stdout.splitlines()[2:]]
    assert [r[1] for r in rows] == sorted(scores, key=lambda v: -scores[v])
    missing = _python([str(ROOT / "scripts/sweep_summary.py"), "--study", "nope"], tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no version")


# ---------------------------------------------------------------- SLURM (composes and exports; no SLURM here)


def test_slurm_launcher_config_composes_one_task_per_gpu():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the `slurm` extra")
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm_ddp", "hydra.launcher.nodes=2", "hydra.launcher.gpus_per_node=4",
                                "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node, launcher.partition) == (2, 4, 4, "gpu")


# What SLURM sets in task 5 of a 2-node x 4-GPU job (srun's documented variables).
SLURM_TASK = {"SLURM_JOB_ID": "123456", "SLURM_NTASKS": "8", "SLURM_JOB_NUM_NODES": "2", "SLURM_PROCID": "5",
              "SLURM_LOCALID": "1", "SLURM_NODEID": "1", "SLURM_JOB_NODELIST": "gpu[07-08]"}


def test_slurm_tasks_get_torchruns_rendezvous_environment():
    assert torchrun_env_from_slurm(SLURM_TASK) == {
        "MASTER_ADDR": "gpu07", "MASTER_PORT": str(20000 + 123456 % 40000), "WORLD_SIZE": "8", "RANK": "5",
        "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4", "NODE_RANK": "1", "GROUP_RANK": "1", "NNODES": "2",
        "TORCHELASTIC_RUN_ID": "slurm-123456"}
    # Every task of the job agrees on the rendezvous; a job's own MASTER_PORT wins.
    other = torchrun_env_from_slurm({**SLURM_TASK, "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"})
    assert (other["MASTER_ADDR"], other["MASTER_PORT"]) == ("gpu07", str(20000 + 123456 % 40000))
    assert torchrun_env_from_slurm({**SLURM_TASK, "MASTER_PORT": "29400"})["MASTER_PORT"] == "29400"
    assert torchrun_env_from_slurm({**SLURM_TASK, "SLURM_NTASKS": "1"}) == {}  # one task: no process group
    assert torchrun_env_from_slurm({}) == {}
    assert [first_host(s) for s in ("gpu[03-04,07],cpu1", "node7", "n-1[001-010]")] == ["gpu03", "node7", "n-1001"]
    env = dict(SLURM_TASK)
    assert export_slurm_env(env)["RANK"] == "5" and env["WORLD_SIZE"] == "8"
    assert export_slurm_env({**SLURM_TASK, "WORLD_SIZE": "8"}) == {}  # under torchrun: torchrun's own


# ---------------------------------------------------------------- batch inference on Ray Data


@pytest.fixture
def ray_local():
    ray = pytest.importorskip("ray", reason="the `ray` extra")
    yield ray
    ray.shutdown()


def _corpus(folder: Path) -> Path:
    """The geneva_talks fixture cut into text files by paragraph, plus a JSONL file of two documents."""
    folder.mkdir()
    paragraphs = [p for p in (ROOT / "tests/fixtures/articles/geneva_talks.txt").read_text().split("\n\n") if p.strip()]
    for i, text in enumerate(paragraphs):
        (folder / f"part{i}.txt").write_text(text)
    (folder / "pair.jsonl").write_text("".join(json.dumps({"id": f"j{i}", "text": t}) + "\n"
                                               for i, t in enumerate(paragraphs[:2])))
    return folder


@pytest.mark.slow
def test_ray_workers_give_stance_predicts_rows_and_a_restart_skips_finished_files(tmp_path, tiny_version, ray_local,
                                                                                  capsys):
    from stance.cli.predict_ray import main
    from stance.config import PredictJob
    from stance.predict.ray_batch import shard_path
    from stance.predict.run import run_prediction

    corpus = _corpus(tmp_path / "corpus")
    broken = corpus / "zz.jsonl"
    broken.write_text('{"id": "z1", "text": "Putin spoke."}\n{"id": \n')  # line 2 is bad: the run dies there
    out = tmp_path / "labels"
    # torch: int8 ONNX probabilities depend on which pairs share a batch (dynamic quantisation), and Ray
    # batches by file while one stance-predict process batches the whole corpus.
    common = ["--version", str(tiny_version), "--registry", str(tiny_version.parent), "--out", str(out),
              "--threads", "1", "--backend", "torch"]
    assert main([str(corpus), "--workers", "2", *common]) == 2  # fails on zz.jsonl; the other files finish
    stderr = capsys.readouterr().err.strip().splitlines()  # Ray's own progress log comes first
    assert [line for line in stderr if line.startswith("error:")] == stderr[-1:]
    assert stderr[-1].startswith(f"error: {broken}:2: invalid JSON")
    finished = sorted(p.name for p in (out / "shards").iterdir())
    assert len(finished) == len(list(corpus.iterdir())) - 1 and not (out / "rows.jsonl").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}

    broken.write_text('{"id": "z1", "text": "Putin met Zelensky in Geneva."}\n')
    assert main([str(corpus), "--workers", "2", *common]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    assert {name: after[name] for name in stamps} == stamps  # finished shards were not redone
    files = sorted(str(p) for p in corpus.iterdir())
    assert sorted(shard_path(out, f).name for f in files) == sorted(after)

    single = tmp_path / "single.jsonl"
    run_prediction(PredictJob(version=str(tiny_version), registry=str(tiny_version.parent), inputs=[str(corpus)],
                              threads=1, out=str(single), table=False, progress=False, backend="torch"))
    expected = single.read_text().splitlines()
    assert len(expected) > 10 and (out / "rows.jsonl").read_text().splitlines() == expected
