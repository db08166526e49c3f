"""ONNX export of a version: fp32, optimized where the encoder allows, and int8.

Kept apart from modelling: exporting needs ``torch.onnx`` tracing and ONNX
Runtime's tools, which nothing else in inference does. An export is made once
per set of weights and reused; ``export.json`` records the hashes that tie it
to the weights it came from, and a tampered or foreign export is refused.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging as hf_logging

from stance.errors import ConfigError
from stance.files import sha256_file, staged_dir
from stance.model import load_model
from stance.predict.onnx_files import export_folders, find_export, valid_export
from stance.version_format import ONNX_DIR

log = logging.getLogger(__name__)

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "target_open", "target_start", "target_end")
ONNX_OPSET = 18
BERT_LIKE = ("bert", "roberta", "xlm-roberta", "electra")  # ORT's BERT fusions apply


def export_onnx(version: Path, variant: str = "int8", onnx_cache: str | None = None) -> Path:
    """The ONNX model (``fp32`` or ``int8``) of a version, exported on first use.

    One export writes both variants and ``export.json`` (their hashes and the
    source weights' hash) into a hidden temporary folder that appears as
    ``<version>/onnx/`` with one rename: readers see a complete export or none,
    and two processes exporting at once cannot mix their files.  When the version
    folder cannot be written, the export goes to a cache keyed by the weights' hash.
    """
    found = find_export(version, variant, onnx_cache)
    if found is not None:
        return found
    weights_sha = sha256_file(version / "model.safetensors")
    folders = export_folders(version, weights_sha, onnx_cache)
    for folder in folders:
        # ExitStack: only failing to create the staging folder falls back to the next place;
        # an error while exporting propagates (and staged_dir removes the half-built folder).
        with ExitStack() as stack:
            try:
                staging = stack.enter_context(staged_dir(folder.parent, prefix=f".{folder.name}-"))
            except OSError as err:  # a read-only version folder: fall back to the cache
                log.info("cannot write the ONNX export beside the version (%s); using %s", err, folders[-1])
                continue
            _build_export(version, weights_sha, staging)
            for file in staging.iterdir():
                file.chmod(0o444)  # like the version's own files
            try:
                os.rename(staging, folder)
            except OSError as err:  # another process published first; its export is as good
                if not valid_export(folder, weights_sha, variant):
                    raise ConfigError(f"{folder} exists but holds no complete ONNX export; delete it to "
                                      "export again") from err
            return folder / f"model.{variant}.onnx"
    raise ConfigError(f"cannot write an ONNX export to any of {[str(f) for f in folders]}")


def export_for_version(version: Path) -> Path:
    """Build ``<version>/onnx/`` (fp32, int8, ``export.json``) while the version is staged.

    ``stance-train`` calls this before the manifest's hashes are computed, so the
    export is listed and hashed like every artifact and a published version is
    ready for CPU inference.  Unlike :func:`export_onnx` there is no fallback to
    the cache: the staging folder is ours to write, and an export that cannot be
    built there is an error of the run.
    """
    folder = version / ONNX_DIR
    if folder.exists():
        raise ConfigError(f"{folder} already exists; a staged version is exported once")
    with staged_dir(version, prefix=".onnx-") as staging:
        _build_export(version, sha256_file(version / "model.safetensors"), staging)
        for file in staging.iterdir():
            file.chmod(0o444)  # like the version's own files
        os.rename(staging, folder)
    return folder


class _LogitsOnly(torch.nn.Module):
    """The classifier with positional inputs and a plain tensor output, for export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids, target_open, target_start, target_end):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          target_open=target_open, target_start=target_start, target_end=target_end).logits


def _example_inputs() -> tuple[torch.Tensor, ...]:
    """Two rows of 12 tokens (one padded) with two targets: sizes above 1 keep every axis dynamic."""
    ids = torch.tensor([[101, *range(1000, 1010), 102], [101, *range(2000, 2007), 102, 0, 0, 0]])
    mask = (ids != 0).long()
    return (ids, mask, torch.zeros_like(ids), torch.tensor([[1, 4], [2, 5]]), torch.tensor([[2, 5], [3, 6]]),
            torch.tensor([[3, 7], [4, 8]]))


@contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence library chatter (missing torchvision ops, ORT's pre-processing hint) for one step."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _export_fp32(model: torch.nn.Module, out: Path) -> None:
    batch, seq, targets = torch.export.Dim("batch"), torch.export.Dim("seq"), torch.export.Dim("targets")
    shapes = {name: {0: batch, 1: seq if name in ONNX_INPUTS[:3] else targets} for name in ONNX_INPUTS}
    with _quiet("torch.onnx"):
        torch.onnx.export(_LogitsOnly(model).eval(), _example_inputs(), str(out),
                          input_names=list(ONNX_INPUTS), output_names=["logits"], dynamic_shapes=shapes,
                          opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False)


def _optimize(model_type: str, src: Path, out: Path) -> dict[str, Any] | None:
    """ONNX Runtime's transformer fusions (SkipLayerNorm, BiasGelu), for BERT-like encoders.

    Level 1 keeps the graph portable across CPUs; measured on MiniLM it is ~1.5x
    faster than the plain export, and fused graphs quantize to fewer, larger MatMuls.
    """
    if model_type not in BERT_LIKE:
        return None
    # Local: ONNX Runtime's optimizer pulls in the onnx package (~0.5 s), paid only by an export.
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet("onnxruntime", "onnxruntime.transformers", "onnx_model", "onnx_model_bert", "fusion_utils"):
        optimized = optimize_model(str(src), model_type="bert", num_heads=0, hidden_size=0, opt_level=1)
        optimized.save_model_to_file(str(out))
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    return {"tool": "onnxruntime.transformers.optimizer", "model_type": "bert", "opt_level": 1,
            "fused": fused}


def _quantize(src: Path, out: Path) -> dict[str, Any]:
    """int8 dynamic quantization of the MatMul/Gemm weights.

    Per-channel scales: with one scale per tensor, a briefly trained MiniLM lost
    about 8 macro-F1 points; per channel it stayed within 1 point, for a small cost in speed.
    """
    # Local, as in _optimize: only an export needs the quantizer.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet(""):  # ORT logs its pre-processing hint on the root logger
        quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"])
    return {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8",
            "per_channel": True, "op_types": ["MatMul", "Gemm"]}


def _build_export(version: Path, weights_sha: str, staging: Path) -> None:
    log.info("exporting %s to ONNX; this happens once per version", version)
    started = time.perf_counter()
    hf_logging.disable_progress_bar()  # the weight-loading bar of load_model
    model, _, _ = load_model(version)
    raw, fp32, int8 = staging / "export.raw.onnx", staging / "model.fp32.onnx", staging / "model.int8.onnx"
    _export_fp32(model, raw)
    optimizer = _optimize(model.config.model_type, raw, fp32)
    if optimizer is None:
        raw.rename(fp32)
    raw.unlink(missing_ok=True)
    quantization = _quantize(fp32, int8)
    meta = {
        "files": {p.name: sha256_file(p) for p in (fp32, int8)},
        "source_weights_sha256": weights_sha,
        "source": str(version.resolve()),
        "exporter": "torch.onnx.export(dynamo=True)",
        "opset": ONNX_OPSET,
        "inputs": list(ONNX_INPUTS),
        "outputs": ["logits"],
        "optimizer": optimizer,
        "quantization": {"file": int8.name, **quantization},
        "libraries": {n: metadata.version(n) for n in ("torch", "onnx", "onnxruntime", "onnxscript")},
        "seconds": round(time.perf_counter() - started, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (staging / "export.json").write_text(json.dumps(meta, indent=2))
