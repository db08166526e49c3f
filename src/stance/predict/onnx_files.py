"""Finding and checking a version's ONNX export, without torch.

:mod:`.onnx_export` builds exports (it needs torch); this module only finds a
complete export of a version's weights and checks its hashes, which is all the
ONNX backend needs when the version already has one (every version published
by ``stance-train`` since the export ships with it).

An export lives beside the version (``<version>/onnx/``), or, for a read-only
version exported on first use, in a cache keyed by the weights' SHA-256.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stance.errors import ConfigError
from stance.files import sha256_file
from stance.registry import read_manifest
from stance.version_format import MANIFEST, ONNX_DIR

ONNX_VARIANTS = {"onnx": "int8", "onnx-fp32": "fp32"}  # backend name -> exported file variant
EXPORT_META = "export.json"


def cache_root(onnx_cache: str | None = None) -> Path:
    if onnx_cache:
        return Path(onnx_cache).expanduser()
    base = os.environ.get("STANCE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "stance"
    return Path(base).expanduser() / "onnx"


def check_variant(variant: str) -> None:
    if variant not in ONNX_VARIANTS.values():
        raise ConfigError(f"unknown ONNX variant {variant!r}; expected one of {list(ONNX_VARIANTS.values())}")


def _manifest_hashes(version: Path) -> dict[str, str]:
    return read_manifest(version)["artifacts_sha256"] if (version / MANIFEST).is_file() else {}


def valid_export(folder: Path, weights_sha: str, variant: str, published_sha: str | None = None) -> bool:
    """True for a complete export of these weights; an export that fails its hashes is an error.

    ``published_sha`` is the file's hash in the version's manifest, for an export
    that was published with the version.
    """
    meta_path, model = folder / EXPORT_META, folder / f"model.{variant}.onnx"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    if meta.get("source_weights_sha256") != weights_sha:
        raise ConfigError(f"{folder}: this ONNX export was made from other weights; delete the folder to "
                          "export again")
    actual = sha256_file(model) if model.is_file() else None
    if actual is None or meta.get("files", {}).get(model.name) != actual:
        raise ConfigError(f"{model} is missing or does not match its hash in {EXPORT_META}; delete {folder} to "
                          "export again")
    if published_sha is not None and published_sha != actual:
        raise ConfigError(f"{model} does not match its hash in {folder.parent / MANIFEST}; the version was "
                          "changed after it was published")
    return True


def export_folders(version: Path, weights_sha: str, onnx_cache: str | None) -> list[Path]:
    """Where an export may live: beside the version, else a cache keyed by the weights' hash."""
    return [version / ONNX_DIR, cache_root(onnx_cache) / weights_sha]


def find_export(version: Path, variant: str, onnx_cache: str | None = None) -> Path | None:
    """The checked ONNX file of a version's weights, or None when it has not been exported."""
    check_variant(variant)
    published = _manifest_hashes(version)
    # The manifest's hash of the weights is what the version was published with; taking it
    # from there spares hashing ~100 MB of weights on every start of the ONNX path, which
    # never reads the weights themselves.
    weights_sha = published.get("model.safetensors") or sha256_file(version / "model.safetensors")
    beside, cached = export_folders(version, weights_sha, onnx_cache)
    if valid_export(beside, weights_sha, variant, published.get(f"onnx/model.{variant}.onnx")):
        return beside / f"model.{variant}.onnx"
    if valid_export(cached, weights_sha, variant):
        return cached / f"model.{variant}.onnx"
    return None
