"""Loading a version for inference, on PyTorch or on ONNX Runtime.

Both backends build their inputs with the same pure-Python code
(:func:`stance.model.encode_sentences`, :func:`stance.model.length_batches`):
the same tokenization, windows, markers and length-sorted batches, so they
cannot drift apart in how they build inputs or read outputs.

This module imports neither torch nor transformers: the ONNX backend
(:mod:`.onnx_backend`) runs without them, and ``stance-predict --backend onnx``
starts in well under a second. The PyTorch backend (:mod:`.torch_backend`) and
the exporter (:mod:`.onnx_export`) are imported only when they are used.
"""

from __future__ import annotations

import os
from pathlib import Path

from stance.config import PREDICT_BACKENDS, check_choice
from stance.errors import CheckpointError, RegistryError
from stance.predict.onnx_files import ONNX_VARIANTS, find_export
from stance.predict.predictor import Predictor
from stance.registry import Registry, verify_checkpoint

MAX_THREADS = 8  # beyond this, small-batch encoder inference on CPU stops scaling


def default_threads() -> int:
    """CPUs this process may run on (affinity, not the host's count), capped."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_THREADS))


def check_checkpoint(path: Path) -> None:
    """A clear error for a folder given as a version that holds no model."""
    if not (path / "model.safetensors").is_file() or not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no model.safetensors and config.json; not a stance checkpoint")


def resolve_version(version: str, registry: str) -> Path:
    """A registry version (``v0003``, ``latest``) or a checkpoint folder given by path."""
    path = Path(version).expanduser()
    if (os.sep in version or version.startswith(".")) and path.is_dir():
        check_checkpoint(path)
        return path
    if not Path(registry).is_dir():
        raise RegistryError(f"registry folder {registry!r} does not exist; pass --registry")
    return Registry(registry).resolve(version)


# Loading takes seconds; a process that predicts several times (tests, a notebook) loads once.
_PREDICTORS: dict[tuple[str, str, str | None], Predictor] = {}


def onnx_model_path(path: Path, backend: str, onnx_cache: str | None = None) -> Path:
    """The version's published export, else one exported now (versions from before exports shipped)."""
    variant = ONNX_VARIANTS[backend]
    found = find_export(path, variant, onnx_cache)
    if found is not None:
        return found
    # Imported only here: exporting traces the model with torch, which a version
    # published with its export (every one since issue 14) never needs.
    from stance.predict.onnx_export import export_onnx

    verify_checkpoint(path)  # the export is built from these weights: never from tampered ones
    return export_onnx(path, variant, onnx_cache)


def load_predictor(path: Path, backend: str = "torch", onnx_cache: str | None = None,
                   threads: int | None = None) -> Predictor:
    """The model of a version folder on a backend; loaded once per process."""
    check_choice(backend, PREDICT_BACKENDS, "backend")
    key = (str(path.resolve()), backend, onnx_cache)
    if key in _PREDICTORS:
        return _PREDICTORS[key]
    threads = threads or default_threads()
    check_checkpoint(path)
    if backend != "torch":  # the torch path verifies inside load_model; hashing the version twice costs ~0.2 s
        verify_checkpoint(path)  # before any file is parsed
    # Each backend's module is imported only when chosen: the torch one loads torch and
    # transformers (seconds, hundreds of MB), the ONNX one a second native thread pool.
    if backend == "torch":
        from stance.predict.torch_backend import load_torch

        predictor = load_torch(path, threads)
    else:
        from stance.predict.onnx_backend import load_onnx

        predictor = load_onnx(path, backend, onnx_model_path(path, backend, onnx_cache), threads)
    _PREDICTORS[key] = predictor
    return predictor
