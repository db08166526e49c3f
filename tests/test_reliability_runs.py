"""Runs and versions survive what happens to them (docs/reliability.md, "Runs and versions").

The fault tests run ``stance-train`` as a subprocess with the tiny model and
kill it for real; they are marked ``slow``. The registry tests tamper with a
copy of one trained tiny version.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stance.cli import models as models_cli
from stance.errors import CheckpointError, ConfigError, RegistryError
from stance.files import tree_hashes
from stance.locks import FolderLock
from stance.model import load_model
from stance.pipeline import run_training
from stance.predict import StancePredictor, load_predictor
from stance.registry import MANIFEST, Registry, sealed

ROOT = Path(__file__).resolve().parents[1]
SIGNAL_AT_STEP = ROOT / "tests" / "helpers" / "signal_at_step.py"
# Two epochs of the tiny set, so a resumed run crosses an epoch boundary after its restart.
TWO_EPOCHS = ["debug=tiny", "train.max_steps=-1", "train.epochs=2"]
# The measured difference between a run stopped mid-epoch and resumed, and one never stopped:
# 0.0 (identical model.safetensors, identical metrics) on CPU; the bound only absorbs float noise.
RESUME_TOLERANCE = 1e-6


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _train(tmp: Path, *overrides: str, signal_at: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    """``stance-train`` in ``tmp`` (outputs there), optionally sending itself a signal after a step."""
    args = [*overrides, f"hydra.run.dir={tmp}/hydra", f"registry={tmp}/registry", f"work_dir={tmp}/runs",
            f"prepared_root={tmp}/prepared"]
    if signal_at:
        cmd = [sys.executable, str(SIGNAL_AT_STEP), signal_at[0], str(signal_at[1]), *args]
    else:
        cmd = [sys.executable, "-m", "stance.cli.train", *args]
    return subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, timeout=600)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def _assert_nothing_published(registry: Path) -> None:
    assert not [p for p in registry.glob("v*")], list(registry.iterdir())
    assert not list((registry / ".staging").glob("*")) and not list((registry / ".reserved").glob("*"))


def _max_weight_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max((wa[k].double() - wb[k].double()).abs().max().item() for k in wa)


def _assert_same_results(resumed: Path, uninterrupted: Path) -> None:
    assert _max_weight_difference(resumed, uninterrupted) <= RESUME_TOLERANCE
    metrics = [Registry(p.parent).manifest(p.name)["metrics"] for p in (resumed, uninterrupted)]
    for split, scores in metrics[1].items():
        for name, value in scores.items():
            if isinstance(value, float):
                assert metrics[0][split][name] == pytest.approx(value, abs=RESUME_TOLERANCE), (split, name)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The two-epoch tiny run, never stopped: what a stopped-and-resumed run must reproduce."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    proc = _train(tmp, *TWO_EPOCHS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "registry" / "v0001"


# ---------------------------------------------------------------- divergence


@pytest.mark.slow
def test_a_diverging_run_stops_with_exit_3_publishes_nothing_and_keeps_its_last_checkpoint(tmp_path):
    proc = _train(tmp_path, "debug=tiny", "data=spans_jsonl", "data.split.validation=0", "data.eval_splits=[]",
                  "train.learning_rate=1e6", "train.save_steps=1")
    assert proc.returncode == 3, proc.stderr[-3000:]
    line = _error_line(proc)
    assert "training diverged at step" in line and "no version published" in line
    _assert_nothing_published(tmp_path / "registry")
    checkpoint = Path(line.rsplit("the last good checkpoint is ", 1)[1])
    checkpoint = checkpoint if checkpoint.is_absolute() else tmp_path / checkpoint
    weights = load_file(str(checkpoint / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def test_an_unknown_validation_split_is_a_config_error_before_training(make_job, tmp_path):
    with pytest.raises(ConfigError, match=r"data.validation_split='nope'"):
        run_training(make_job("data.validation_split=nope"))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "registry").exists()


# ---------------------------------------------------------------- stop and resume


@pytest.mark.slow
@pytest.mark.parametrize(("signame", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_saves_a_checkpoint_and_resume_reproduces_the_uninterrupted_run(tmp_path, uninterrupted,
                                                                                 signame, code):
    stopped = _train(tmp_path, *TWO_EPOCHS, signal_at=(signame, 3))  # step 3 of 30: mid-epoch
    assert stopped.returncode == code, stopped.stderr[-3000:]
    line = _error_line(stopped)
    assert f"stopped by {signame} at step 3" in line and "train.resume=auto" in line
    _assert_nothing_published(tmp_path / "registry")
    [run] = (tmp_path / "runs").glob("*/run-*")
    assert [p.name for p in run.glob("checkpoint-*")] == ["checkpoint-3"]

    resumed = _train(tmp_path, *TWO_EPOCHS, "train.resume=auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr  # Hydra sends log records to stdout
    assert f"resuming {tmp_path}/runs" in log and "from checkpoint-3" in log
    _assert_same_results(tmp_path / "registry" / "v0001", uninterrupted)
    assert not run.exists()  # a published run's work folder is gone


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_last_step_checkpoint_and_gc_cleans_up(tmp_path, uninterrupted):
    killed = _train(tmp_path, *TWO_EPOCHS, "train.save_steps=2", signal_at=("SIGKILL", 5))
    assert killed.returncode == -signal.SIGKILL
    registry = tmp_path / "registry"
    assert list((registry / ".staging").iterdir()) and list((registry / ".reserved").iterdir())  # dead leftovers
    assert models_cli.main(["--registry", str(registry), "list"]) == 0  # which trip nobody up

    resumed = _train(tmp_path, *TWO_EPOCHS, "train.save_steps=2", "train.resume=auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "from checkpoint-4" in resumed.stdout + resumed.stderr  # Hydra sends log records to stdout
    [version] = Registry(registry).versions()
    _assert_same_results(registry / version, uninterrupted)  # save_steps changes nothing either

    removed = models_cli.collect_garbage(Registry(registry), str(tmp_path / "runs"), 7)
    assert "reservation of a dead run" in removed and "staging folder of a dead run" in removed
    assert not list((registry / ".staging").iterdir()) and not list((registry / ".reserved").iterdir())
    assert models_cli.collect_garbage(Registry(registry), str(tmp_path / "runs"), 7) == "nothing to remove"


def test_resume_picks_the_newest_dead_run_of_the_same_config_and_skips_live_ones(make_job, tmp_path):
    from stance.runs import config_key, open_run

    job = make_job()
    assert config_key(job) == config_key(make_job("train.resume=auto", f"registry={tmp_path}/elsewhere"))
    assert config_key(job) != config_key(make_job("seed=1"))
    live = open_run(job.work_dir, job, resume=False)
    dead = open_run(job.work_dir, job, resume=False)
    for run in (live, dead):
        (run.path / "checkpoint-2").mkdir()
        for name in ("model.safetensors", "optimizer.pt"):
            (run.path / "checkpoint-2" / name).write_bytes(b"x")
        (run.path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (dead.path / "checkpoint-4").mkdir()  # cut short by a SIGKILL: no trainer_state.json
    dead.lock.release()
    picked = open_run(job.work_dir, job, resume=True)
    assert picked.path == dead.path and picked.checkpoint.name == "checkpoint-2"
    again = open_run(job.work_dir, job, resume=True)  # the dead run is held now; the live one never was free
    assert again.checkpoint is None and again.path not in (live.path, dead.path)


# ---------------------------------------------------------------- the registry


@pytest.fixture
def registry(tiny_version, tmp_path) -> Registry:
    """A writable copy of the registry holding the tiny version."""
    root = tmp_path / "registry"
    shutil.copytree(tiny_version.parent, root, symlinks=True)
    return Registry(root)


def _tamper(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_published_versions_are_0755_folders_of_0444_files_listed_in_the_manifest(tiny_version):
    manifest = Registry(tiny_version.parent).manifest(tiny_version.name)
    # evaluations/ is written later (other tests share this version), not published.
    on_disk = {name for name in tree_hashes(tiny_version)
               if name != MANIFEST and name.split("/")[0] != "evaluations"}
    assert set(manifest["artifacts_sha256"]) == on_disk and "README.md" in on_disk
    for path in [tiny_version, *tiny_version.rglob("*")]:
        if path.parts[len(tiny_version.parts):][:1] in (("evaluations",), ("onnx",)):
            continue
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o444), path


def test_tampered_weights_are_refused_by_every_loader(registry, tmp_path, capsys):
    version = registry.resolve("v0001")
    _tamper(version / "model.safetensors")
    root = str(registry.root)
    assert models_cli.main(["--registry", root, "verify", "v0001"]) == 2
    assert "model.safetensors does not match" in capsys.readouterr().out
    assert models_cli.main(["--registry", root, "show", "latest"]) == 2
    with pytest.raises(RegistryError, match="model.safetensors does not match"):
        load_model(version)  # what stance-evaluate loads with
    with pytest.raises(RegistryError, match="model.safetensors does not match"):
        load_predictor(version, "torch", onnx_cache=str(tmp_path / "onnx-cache"))
    # The ONNX backend checks the same version before reading its export (issue 27).
    with pytest.raises(RegistryError, match="model.safetensors does not match"):
        load_predictor(version, "onnx", onnx_cache=str(tmp_path / "onnx-cache"))
    assert not (tmp_path / "onnx-cache").exists()  # no export was built from the tampered weights


def test_a_file_added_to_a_version_is_refused(registry, capsys):
    version = registry.resolve("v0001")
    (version / "added_tokens.json").write_text('{"evil": 0}')
    with pytest.raises(RegistryError, match="added_tokens.json is not listed"):
        load_model(version)
    assert models_cli.main(["--registry", str(registry.root), "verify", "v0001"]) == 2


def test_an_untouched_version_verifies(registry, capsys):
    assert models_cli.main(["--registry", str(registry.root), "verify", "latest"]) == 0
    listed = len(Registry(registry.root).manifest("latest")["artifacts_sha256"])
    assert f"all {listed} files match" in capsys.readouterr().out


def test_versions_and_latest_outside_the_registry_are_refused(registry, tmp_path, capsys):
    outside = tmp_path / "outside"
    shutil.copytree(registry.resolve("v0001"), outside)
    (registry.root / "v0009").symlink_to(outside)
    assert registry.versions() == ["v0001"]
    with pytest.raises(RegistryError, match="symlink"):
        registry.resolve("v0009")
    (registry.root / "latest").unlink()
    (registry.root / "latest").symlink_to("/etc")
    with pytest.raises(RegistryError, match="points outside the registry"):
        registry.resolve("latest")
    assert models_cli.main(["--registry", str(registry.root), "show", "latest"]) == 2
    assert "pointed" in models_cli.collect_garbage(registry, str(tmp_path / "runs"), 7)
    assert os.readlink(registry.root / "latest") == "v0001"


def test_a_broken_manifest_does_not_break_the_listing(registry, capsys):
    broken = registry.root / "v0002"
    shutil.copytree(registry.resolve("v0001"), broken)
    (broken / MANIFEST).chmod(0o644)
    (broken / MANIFEST).write_text("")
    assert models_cli.main(["--registry", str(registry.root), "list"]) == 0
    out = capsys.readouterr().out
    assert "v0001" in out and "v0002    BROKEN" in out
    assert registry.resolve("latest").name == "v0001"  # latest never points at a broken version


def _publish(staged_ctx, files: dict[str, str]) -> None:
    staged = staged_ctx.__enter__()
    for name, text in files.items():
        (staged.path / name).write_text(text)
    hashes = tree_hashes(staged.path)
    (staged.path / MANIFEST).write_text(json.dumps(sealed({"artifacts_sha256": hashes})))
    return staged


def test_latest_only_moves_forward_whatever_the_order_of_publishing(tmp_path):
    registry = Registry(tmp_path / "registry")
    first, second = registry.stage(), registry.stage()
    a = _publish(first, {"a.txt": "a"})
    b = _publish(second, {"b.txt": "b"})
    assert (a.version, b.version) == ("v0001", "v0002")
    second.__exit__(None, None, None)  # the later number finishes first
    first.__exit__(None, None, None)
    assert os.readlink(registry.root / "latest") == "v0002"
    # A SIGKILL between the rename and the alias update: latest lags, resolve does not.
    (registry.root / "latest").unlink()
    (registry.root / "latest").symlink_to("v0001")
    assert registry.resolve("latest").name == "v0002"


def test_files_dropped_into_staging_or_pickles_are_never_published(tmp_path):
    registry = Registry(tmp_path / "registry")
    ctx = registry.stage()
    staged = _publish(ctx, {"a.txt": "a"})
    (staged.path / "dropped.json").write_text("{}")  # after the hashes were taken
    with pytest.raises(RegistryError, match="dropped.json is not listed"):
        ctx.__exit__(None, None, None)
    ctx = registry.stage()
    _publish(ctx, {"a.txt": "a", "extra.pkl": "x"})  # hashed, but a pickle
    with pytest.raises(RegistryError, match="pickle"):
        ctx.__exit__(None, None, None)
    assert registry.versions() == [] and not list((registry.root / ".staging").iterdir())


def test_gc_removes_dead_leftovers_and_leaves_live_runs_alone(tmp_path):
    registry = Registry(tmp_path / "registry")
    live_ctx = registry.stage()
    live = live_ctx.__enter__()
    (registry.root / ".reserved" / "v0007").mkdir()  # a dead run's reservation and staging folder
    (registry.root / ".staging" / "v0007-abc").mkdir()
    dead_run = tmp_path / "runs" / "key" / "run-1-2"
    dead_run.mkdir(parents=True)
    live_run = tmp_path / "runs" / "key" / "run-3-4"
    live_run.mkdir()
    held = FolderLock(live_run)
    assert held.acquire()
    report = models_cli.collect_garbage(registry, str(tmp_path / "runs"), 7)
    assert "v0007 (reservation" in report and "v0007-abc (staging" in report and "run-1-2" in report
    assert live.path.is_dir() and (registry.root / ".reserved" / live.version).is_dir() and live_run.is_dir()
    assert not dead_run.exists()
    held.release()
    live_ctx.__exit__(RuntimeError, RuntimeError("stop"), None)


def test_a_signal_outside_training_is_recorded_and_stops_at_the_next_safe_point(tmp_path):
    """Issue 27: a library that catches every exception cannot swallow the stop, and nothing is published."""
    from stance.errors import RunInterrupted
    from stance.training.callbacks import GracefulStop

    registry = Registry(tmp_path / "registry")
    stop = GracefulStop()
    with stop.installed(), pytest.raises(RunInterrupted) as caught, registry.stage() as staged:
        (staged.path / "model.safetensors").write_text("half written")
        try:  # what datasets' fingerprinting (a bare except) or a plotting library does
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. while evaluating, after training
        except BaseException:  # noqa: BLE001 - the point: a handler that raised would be swallowed here
            pytest.fail("the handler raised into library code")
        assert stop.signum == signal.SIGTERM
        stop.check("before publishing")  # the pipeline's safe point
    assert caught.value.exit_code == 143
    assert not list((registry.root / ".staging").iterdir()) and not list((registry.root / ".reserved").iterdir())
    assert not registry.versions()
    assert signal.getsignal(signal.SIGTERM) != stop.handle  # the previous handler is back


def test_a_second_signal_ends_the_process_the_signal_s_default_way(tmp_path):
    code = ("import os, signal, time\n"
            "from stance.signals import StopRequests\n"
            "with StopRequests().installed() as stop:\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    assert stop.signum == signal.SIGINT\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    time.sleep(5)\n"
            "print('survived')\n")
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGINT and "survived" not in done.stdout


def test_a_non_finite_gradient_stops_training_before_the_optimizer_step():
    from transformers import TrainerControl, TrainerState

    from stance.errors import DivergenceError
    from stance.training.callbacks import DivergenceGuard, check_loss

    model = torch.nn.Linear(2, 2)
    model(torch.ones(1, 2)).sum().backward()
    guard = DivergenceGuard(model)
    guard.on_pre_optimizer_step(None, TrainerState(), TrainerControl())  # finite: nothing happens
    model.weight.grad[0, 0] = float("inf")
    with pytest.raises(DivergenceError, match="step 1: a non-finite gradient"):
        guard.on_pre_optimizer_step(None, TrainerState(), TrainerControl())
    with pytest.raises(DivergenceError, match="step 7: loss nan"):
        check_loss(torch.tensor(float("nan")), 7)


# ---------------------------------------------------------------- the tamper matrix (issue 27)


def _flip(path: Path) -> None:
    _tamper(path)


def _pickle_weights(path: Path) -> None:
    path.chmod(0o644)
    path.write_bytes(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.")  # pickle.dumps({"a": 1})


def _swap_id2label(path: Path) -> None:
    path.chmod(0o644)
    config = json.loads(path.read_text())
    config["id2label"] = {"0": config["id2label"]["1"], "1": config["id2label"]["0"], "2": config["id2label"]["2"]}
    path.write_text(json.dumps(config))


def _swap_vocab(path: Path) -> None:
    path.chmod(0o644)
    tok = json.loads(path.read_text())
    vocab = tok["model"]["vocab"]
    a, b = "russia", "china"
    if a in vocab and b in vocab:
        vocab[a], vocab[b] = vocab[b], vocab[a]
    else:  # tiny vocabularies: any two entries
        (ka, va), (kb, vb) = list(vocab.items())[1000:1002]
        vocab[ka], vocab[kb] = vb, va
    path.write_text(json.dumps(tok))


def _edit_manifest(change) -> callable:
    def edit(path: Path) -> None:
        path.chmod(0o644)
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))
    return edit


def _add(relative: str, data: bytes = b"x"):
    def add(version: Path) -> None:
        target = version / relative
        version.chmod(0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.parent.chmod(0o755)
        target.write_bytes(data)
    return add


# Each case: (what it does to a copy of the version, a fragment of the one-line refusal).
TAMPER_CASES = {
    "weights_byte_flipped": (lambda v: _flip(v / "model.safetensors"), "model.safetensors does not match"),
    "weights_replaced_by_pickle": (lambda v: _pickle_weights(v / "model.safetensors"), "model.safetensors"),
    "extra_pytorch_model_bin": (_add("pytorch_model.bin"), "pytorch_model.bin"),
    "id2label_swapped": (lambda v: _swap_id2label(v / "config.json"), "config.json does not match"),
    "vocab_ids_swapped": (lambda v: _swap_vocab(v / "tokenizer.json"), "tokenizer.json does not match"),
    "tokenizer_byte_flipped": (lambda v: _flip(v / "tokenizer.json"), "tokenizer.json does not match"),
    "manifest_empty": (lambda v: _edit_raw(v / MANIFEST, ""), "unreadable manifest"),
    "manifest_corrupt": (lambda v: _edit_raw(v / MANIFEST, '{"artifacts_sha256": {'), "unreadable manifest"),
    "metric_edited": (lambda v: _edit_manifest(_better_metric)(v / MANIFEST), "was changed after it was published"),
    "seal_removed": (lambda v: _edit_manifest(lambda m: m.pop("manifest_sha256"))(v / MANIFEST),
                     "has no manifest_sha256"),
    # A version written before issue 26 (format 1: no "format" key, no seal): refused, saying so.
    "older_format": (lambda v: _edit_manifest(lambda m: [m.pop("manifest_sha256"), m.pop("format")])(v / MANIFEST),
                     "written in version format 1 (this stance reads format 2, sealed); retrain it"),
    "absolute_path_listed": (lambda v: _edit_manifest(_list_passwd)(v / MANIFEST), "not a path inside the version"),
    "extra_file_in_onnx": (_add("onnx/extra.onnx"), "onnx/extra.onnx is not listed"),
    "pickle_in_subfolder": (_add("extra/evil.pkl"), "extra/evil.pkl"),
    "onnx_int8_byte_flipped": (lambda v: _flip(v / "onnx" / "model.int8.onnx"), "model.int8.onnx"),
}


def _edit_raw(path: Path, text: str) -> None:
    path.chmod(0o644)
    path.write_text(text)


def _better_metric(manifest: dict) -> None:
    manifest["metrics"]["test"]["macro_f1"] = 0.99


def _list_passwd(manifest: dict) -> None:
    manifest["artifacts_sha256"]["/etc/passwd"] = "0" * 64


def _load_torch(version: Path, tmp: Path) -> None:
    load_predictor(version, "torch", onnx_cache=str(tmp / "cache"))


def _load_onnx(version: Path, tmp: Path) -> None:
    load_predictor(version, "onnx", onnx_cache=str(tmp / "cache"))


def _load_api(version: Path, tmp: Path) -> None:
    StancePredictor.load(version, onnx_cache=str(tmp / "cache"))  # the default backend


def _load_evaluate(version: Path, tmp: Path) -> None:
    load_model(version)  # what stance-evaluate (and distillation) load with


def _cli(command: str):
    def run(version: Path, tmp: Path) -> None:
        code = models_cli.main(["--registry", str(version.parent), command, version.name])
        if code == 2:
            raise RegistryError("refused")
        assert code == 0
    return run


LOADERS = {"torch": _load_torch, "onnx": _load_onnx, "api": _load_api, "evaluate": _load_evaluate,
           "show": _cli("show"), "verify": _cli("verify")}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A tiny version of this module's own, so its copies are never resolved from a cache."""
    tmp = tmp_path_factory.mktemp("pristine")
    from tests.conftest import tiny_train_job

    return run_training(tiny_train_job(tmp)).path


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("case", list(TAMPER_CASES))
def test_tamper_matrix(pristine, tmp_path, capsys, case, loader):
    """Every tampered or foreign version is refused by every loader, with one line naming the problem."""
    root = tmp_path / "registry"
    root.mkdir()
    version = root / "v0001"
    shutil.copytree(pristine, version)
    tamper, fragment = TAMPER_CASES[case]
    tamper(version)
    with pytest.raises((RegistryError, ConfigError, CheckpointError)) as refused:
        LOADERS[loader](version, tmp_path)
    said = str(refused.value) if loader not in ("show", "verify") else capsys.readouterr()
    text = said if isinstance(said, str) else said.out + said.err
    assert fragment in text, text
    assert not (tmp_path / "cache").exists()  # nothing was exported from a refused version


def test_an_untampered_copy_loads_everywhere(pristine, tmp_path):
    root = tmp_path / "registry"
    root.mkdir()
    shutil.copytree(pristine, root / "v0001")
    for loader in LOADERS.values():
        loader(root / "v0001", tmp_path)


# ---------------------------------------------------------------- published and diverged work folders (issue 27)


def _fake_run(work_dir: Path, name: str) -> Path:
    """A dead run's folder with one complete checkpoint, as Trainer leaves it."""
    ckpt = work_dir / "key" / name / "checkpoint-2"
    ckpt.mkdir(parents=True)
    for file in ("model.safetensors", "optimizer.pt"):
        (ckpt / file).write_text("x")
    (ckpt / "trainer_state.json").write_text("{}")
    return ckpt.parent


def test_a_published_run_is_never_resumed_and_gc_removes_it(tmp_path, capsys):
    from stance.runs import PUBLISHED, resumable_runs

    registry = Registry(tmp_path / "registry")
    version = registry.root / "v0001"
    version.mkdir(parents=True)
    published = _fake_run(tmp_path / "runs", "run-1")
    (version / MANIFEST).write_text(json.dumps(sealed({"artifacts_sha256": {}, "run": published.name})))
    (published / PUBLISHED).write_text(json.dumps({"registry": str(registry.root), "version": "v0001"}))
    # Killed between the marker and the rename: the version it names does not exist, so it resumes.
    unpublished = _fake_run(tmp_path / "runs", "run-2")
    (unpublished / PUBLISHED).write_text(json.dumps({"registry": str(registry.root), "version": "v0002"}))
    diverged = _fake_run(tmp_path / "runs", "run-3")
    (diverged / "diverged.json").write_text("{}")
    assert resumable_runs(tmp_path / "runs" / "key") == [unpublished]
    assert models_cli.main(["--registry", str(registry.root), "gc", "--work-dir", str(tmp_path / "runs"),
                            "--prepared-root", str(tmp_path / "prepared")]) == 0
    assert not published.exists() and not diverged.exists() and unpublished.is_dir()


def test_gc_removes_a_killed_prepare_s_temporary_folder(tmp_path, capsys):
    from stance.runs import PREPARE_TEMP_AGE_S

    prepared = tmp_path / "prepared"
    dead, live = prepared / ".world_affairs-abc-x1", prepared / ".world_affairs-abc-x2"
    dead.mkdir(parents=True)
    live.mkdir()
    old = dead.stat().st_mtime - PREPARE_TEMP_AGE_S - 60
    os.utime(dead, (old, old))
    assert models_cli.main(["--registry", str(tmp_path / "registry"), "gc", "--work-dir", str(tmp_path / "runs"),
                            "--prepared-root", str(prepared)]) == 0
    assert not dead.exists() and live.is_dir()
    assert "killed stance-prepare" in capsys.readouterr().out


def test_latest_never_points_at_a_version_whose_manifest_lists_no_file(tmp_path):
    registry = Registry(tmp_path / "registry")
    ctx = registry.stage()
    _publish(ctx, {"a.txt": "a"})
    ctx.__exit__(None, None, None)
    empty = registry.root / "v0002"
    empty.mkdir()
    (empty / MANIFEST).write_text(json.dumps(sealed({"artifacts_sha256": {}})))
    assert registry.resolve("latest").name == "v0001"
