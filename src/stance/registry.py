"""The model registry: immutable, versioned checkpoint folders.

    registry/
        v0001/            a published version (folders 0755, files 0444)
            model.safetensors, config.json, tokenizer files
            config.yaml       the resolved Hydra config of the run
            manifest.json     provenance, metrics, SHA-256 of every other file of the version
            eval/<split>/     evaluation results: predictions.jsonl, metrics.json, report.md
            README.md         model card
            evaluations/      later `stance-evaluate` runs (never touch the above)
            onnx/             the ONNX export, built on first use from verified weights
        latest -> v0001   the newest complete version; only ever moves forward
        .staging/         runs in progress; never a version
        .reserved/vNNNN/  a number taken by a run; its .lock is held while the run lives
        .lock             held while reserving, publishing, moving ``latest`` and collecting garbage

A version number is reserved with an atomic ``mkdir`` and the finished folder
appears with one atomic ``rename``, so a version is complete or absent, two
concurrent runs never get the same number, and nothing is ever overwritten.
A version holds exactly the files its manifest lists (plus the later
``evaluations/`` and ``onnx/``); loaders check them against their hashes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stance.errors import RegistryError
from stance.files import sha256_file, sha256_text, staged_dir
from stance.locks import LOCK, FolderLock, is_live
from stance.version_format import EVALUATIONS_DIR, FORMAT, MANIFEST, ONNX_DIR, FormatError, Manifest

log = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^v(\d{4,})$")
LATEST = "latest"
# Written into a version after it is published, each from the verified files: not in the manifest.
DERIVED = (EVALUATIONS_DIR, ONNX_DIR)
# Pickles run code when loaded; a version never holds one (weights are safetensors).
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib")


# The manifest's own hash, stored in it: an edited metric or file list is caught like an edited file.
# It detects changes, not forgery (anyone who can rewrite the manifest can recompute it); a signature
# would need a key the project does not have.
SEAL = "manifest_sha256"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _seal_of(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != SEAL}
    return sha256_text(json.dumps(body, sort_keys=True, ensure_ascii=False))


def sealed(manifest: dict) -> dict:
    """The manifest as written: JSON values only, plus its own hash (:data:`SEAL`)."""
    body = json.loads(json.dumps({k: v for k, v in manifest.items() if k != SEAL}, default=str))
    return {**body, SEAL: _seal_of(body)}


def _check_listed_path(path: Path, name: object, sha: object) -> None:
    """A manifest names files inside its version only: relative, normalised, no '..', a real SHA-256."""
    bad = (not isinstance(name, str) or not name or name.startswith(("/", "\\")) or "\\" in name
           or any(part in ("", ".", "..") for part in name.split("/")))
    if bad:
        raise RegistryError(f"{path}: artifacts_sha256 names {name!r}, which is not a path inside the version; "
                            "refusing it")
    if not isinstance(sha, str) or not _SHA256.match(sha):
        raise RegistryError(f"{path}: artifacts_sha256[{name!r}] is not a SHA-256 hex digest")


def read_manifest(folder: Path, require_seal: bool = False) -> dict:
    """A version folder's manifest, checked (seal, listed paths), or a RegistryError naming the file.

    ``require_seal``: loaders refuse a manifest without its own hash (one written by older code, or
    with the seal removed); listings and gc read any manifest that parses.
    """
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RegistryError(f"{path}: unreadable manifest ({type(err).__name__}: {str(err)[:80]})") from err
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts_sha256"), dict):
        raise RegistryError(f"{path}: not a stance manifest (no artifacts_sha256)")
    for name, sha in manifest["artifacts_sha256"].items():
        _check_listed_path(path, name, sha)
    if SEAL in manifest and manifest[SEAL] != _seal_of(manifest):
        raise RegistryError(f"{path} was changed after it was published (its {SEAL} does not match its "
                            "content); refusing it")
    if require_seal and SEAL not in manifest:
        # No migration: the seal would vouch for files that no sealed manifest ever listed.
        found = manifest.get("format", 1)
        if found != FORMAT:
            raise RegistryError(f"{path}: written in version format {found} (this stance reads format {FORMAT}, "
                                "sealed); retrain it with this stance (its config.yaml holds the settings)")
        raise RegistryError(f"{path} has no {SEAL}: its seal was removed or the file edited; refusing it")
    return manifest


def read_version(folder: Path) -> Manifest:
    """A published version's manifest, typed (seal, paths and format checked; files are not hashed)."""
    try:
        return Manifest.from_dict(read_manifest(folder, require_seal=True))
    except FormatError as err:
        raise RegistryError(f"{Path(folder) / MANIFEST}: {err}") from None


def _derived(relative: str, expected: dict[str, str]) -> bool:
    """Written into a version after publishing: evaluations/ always; onnx/ only for a version that
    did not publish its export (once the manifest lists onnx/ files, it must list all of them)."""
    first = relative.split("/", 1)[0]
    if first == ONNX_DIR or first.startswith(f".{ONNX_DIR}"):  # .onnx-*: an export being built
        return not any(name.startswith("onnx/") for name in expected)
    return first in DERIVED


def check_files(folder: Path, require_seal: bool = False) -> list[str]:
    """What is wrong with a version folder's files against its manifest; empty when all is well.

    Every listed file must match its hash, every file at every depth must be listed (or derived, see
    :func:`_derived`), and none may be a pickle or an unlisted symlink. Hashing all of a version
    (about 200 MB with its exports) takes ~0.2 s on our 2 cores, so loaders check the whole version
    rather than guess which files a library will open.
    """
    folder = Path(folder)
    expected = read_manifest(folder, require_seal)["artifacts_sha256"]
    problems = []
    for name, sha in sorted(expected.items()):
        path = folder / name
        if path.is_symlink() or not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != sha:
            problems.append(f"{name} does not match its SHA-256 in {MANIFEST}")
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.suffix in PICKLE_SUFFIXES:
            problems.append(f"{name} is a pickle file, which a version never holds")
        elif path.is_symlink() and name not in expected:
            problems.append(f"{name} is a symlink, which a version never holds")
        elif not (name == MANIFEST or name in expected or _derived(name, expected) or path.is_dir()):
            problems.append(f"{name} is not listed in {MANIFEST}")
    return problems


def verify_checkpoint(folder: Path) -> None:
    """Refuse a version whose files differ from its sealed manifest (a folder without one is not a version).

    Every loader (torch, ONNX, the API, evaluate, show, distillation) calls this before reading a
    byte of the model: the manifest's seal and paths, no unlisted file at any depth, every hash.
    """
    if not (Path(folder) / MANIFEST).exists():
        return
    read_version(folder)  # an older or foreign format is one line saying which and what to do
    problems = check_files(folder, require_seal=True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RegistryError(f"{folder}: {problems[0]}{more}; refusing to load it (stance-models verify lists all)")


@dataclass
class Staged:
    """A version being written: its reserved name and its private folder."""

    version: str
    path: Path


class Registry:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------ reading

    def versions(self) -> list[str]:
        """Published versions, oldest first: real folders (never symlinks) holding a manifest."""
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir()
                 if VERSION_RE.match(p.name) and not p.is_symlink() and p.is_dir() and (p / MANIFEST).is_file()]
        return sorted(names, key=lambda n: int(VERSION_RE.match(n).group(1)))

    def resolve(self, version: str) -> Path:
        """Folder of a version; ``latest`` is the newest complete version."""
        if version == LATEST:
            return self.root / self._latest()
        path = self.root / version
        if VERSION_RE.match(version) and path.is_symlink():
            raise RegistryError(f"{path} is a symlink (to {os.readlink(path)}); a version is a folder inside "
                                f"the registry, refusing it")
        if not VERSION_RE.match(version) or not (path / MANIFEST).is_file():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"version {version!r} not found in registry {self.root} (versions: {known})")
        return path

    def _latest(self) -> str:
        link = self.root / LATEST
        if link.is_symlink() and not VERSION_RE.match(os.readlink(link)):
            raise RegistryError(f"{link} -> {os.readlink(link)} points outside the registry; refusing it "
                                "(stance-models gc points it at the newest version)")
        if link.exists() and not link.is_symlink():
            raise RegistryError(f"{link} is not a symlink; refusing it (remove it; stance-models gc recreates it)")
        versions = self.complete_versions()
        if not versions:
            raise RegistryError(f"no complete versions in registry {self.root} yet; train one with stance-train")
        # The alias may lag (a run killed between its rename and the alias update):
        # the newest complete version is what `latest` means.
        if not link.is_symlink() or os.readlink(link) != versions[-1]:
            log.warning("%s pointed at %s; the newest version is %s", link,
                        os.readlink(link) if link.is_symlink() else "nothing", versions[-1])
        return versions[-1]

    def manifest(self, version: str) -> dict:
        return read_manifest(self.resolve(version))

    def complete_versions(self) -> list[str]:
        """Versions whose sealed manifest reads and lists files: what ``latest`` may point at (a broken one
        is only listed). Files are not hashed here; every loader does that (:func:`verify_checkpoint`)."""
        complete = []
        for version in self.versions():
            try:
                listed = read_manifest(self.root / version, require_seal=True)["artifacts_sha256"]
            except RegistryError:
                continue
            if listed:
                complete.append(version)
        return complete

    def verify(self, version: str) -> list[str]:
        """Every problem of a version's files against its manifest (``stance-models verify``)."""
        return check_files(self.resolve(version), require_seal=True)

    # ------------------------------------------------------------ writing

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The registry-wide lock: reserving, publishing, moving ``latest`` and gc take turns."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _reserve(self) -> tuple[str, FolderLock]:
        reserved = self.root / ".reserved"
        with self._locked():
            reserved.mkdir(parents=True, exist_ok=True)
            taken = [int(m.group(1)) for p in list(self.root.iterdir()) + list(reserved.iterdir())
                     if (m := VERSION_RE.match(p.name))]
            number = max(taken, default=0) + 1
            while True:
                name = f"v{number:04d}"
                try:
                    os.mkdir(reserved / name)  # atomic: exactly one process wins a number
                    break
                except FileExistsError:
                    number += 1
            # Held until the run ends, however it ends: gc tells a dead run's reservation by its free lock.
            held = FolderLock(reserved / name)
            held.acquire()
            return name, held

    @contextmanager
    def stage(self) -> Iterator[Staged]:
        """Reserve a version and a private folder; publish it if the block succeeds.

        On any error the staging folder is removed and no version appears.
        """
        version, held = self._reserve()
        try:
            with staged_dir(self.root / ".staging", prefix=f"{version}-") as path:
                yield Staged(version, path)
                self._publish(version, path)
        finally:
            shutil.rmtree(self.root / ".reserved" / version, ignore_errors=True)
            held.release()

    def _publish(self, version: str, path: Path) -> None:
        if not (path / MANIFEST).is_file():
            raise RegistryError(f"refusing to publish {version}: the run wrote no {MANIFEST}")
        pickles = [str(p.relative_to(path)) for p in path.rglob("*") if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise RegistryError(f"refusing to publish {version}: pickle files {pickles[:3]} in {path}")
        problems = check_files(path)  # e.g. a file dropped into the staging folder after hashing
        if problems:
            raise RegistryError(f"refusing to publish {version}: {problems[0]} ({len(problems)} problem(s))")
        target = self.root / version
        if target.exists() or target.is_symlink():
            raise RegistryError(f"{target} already exists; versions are never overwritten")
        for item in [path, *path.rglob("*")]:
            item.chmod(0o755 if item.is_dir() else 0o444)
        os.rename(path, target)
        self._point_latest()

    def _point_latest(self) -> None:
        """Point ``latest`` at the newest complete version, under the lock: it never moves backwards."""
        with self._locked():
            versions = self.complete_versions()
            link = self.root / LATEST
            if not versions or (link.is_symlink() and os.readlink(link) == versions[-1]):
                return
            # A new symlink renamed over the old one: readers never see it missing.
            tmp = self.root / f".{LATEST}.{os.getpid()}"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(versions[-1], tmp)
            os.replace(tmp, link)

    # ------------------------------------------------------------ garbage

    def collect_garbage(self) -> list[str]:
        """Remove what dead runs left (reservations, staging folders, alias temporaries); repair ``latest``.

        Returns one line per thing removed or repaired. Live runs hold their
        reservation's lock and are left alone.
        """
        if not self.root.is_dir():
            return []
        done = []
        with self._locked():
            reserved = self.root / ".reserved"
            live = set()
            for folder in sorted(reserved.glob("v*")) if reserved.is_dir() else []:
                if is_live(folder):
                    live.add(folder.name)
                else:
                    shutil.rmtree(folder)
                    done.append(f"removed {folder} (reservation of a dead run)")
            staging = self.root / ".staging"
            for folder in sorted(staging.iterdir()) if staging.is_dir() else []:
                if folder.name.split("-", 1)[0] not in live:
                    _remove(folder)
                    done.append(f"removed {folder} (staging folder of a dead run)")
            for tmp in self.root.glob(f".{LATEST}.*"):
                tmp.unlink()
                done.append(f"removed {tmp} (alias temporary of a dead run)")
        link = self.root / LATEST
        versions = self.complete_versions()
        before = os.readlink(link) if link.is_symlink() else None
        if versions and before != versions[-1]:
            if link.exists() and not link.is_symlink():
                return [*done, f"left {link} alone: not a symlink"]
            if link.is_symlink():
                link.unlink()  # e.g. pointing outside the registry
            self._point_latest()
            done.append(f"pointed {link} at {versions[-1]} (was {before or 'missing'})")
        return done


def _remove(path: Path) -> None:
    """Remove a file, symlink or folder tree (made writable first: published files are 0444)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    for item in path.rglob("*"):
        if item.is_dir() and not item.is_symlink():
            item.chmod(0o755)
    shutil.rmtree(path)
