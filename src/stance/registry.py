"""The model registry: immutable, versioned checkpoint folders.

    registry/
        v0001/            a published version (files read-only)
            model.safetensors, config.json, tokenizer files
            config.yaml       the resolved Hydra config of the run
            manifest.json     provenance, metrics, SHA-256 of every artifact
            eval/<split>/     evaluation results: predictions.jsonl, metrics.json, report.md
            README.md         model card
            evaluations/      later `stance-evaluate` runs (never touch the above)
        latest -> v0001   movable alias
        .staging/         runs in progress; never a version

A version number is reserved with an atomic ``mkdir`` and the finished folder
appears with one atomic ``rename``, so a version is complete or absent, two
concurrent runs never get the same number, and nothing is ever overwritten.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stance.errors import RegistryError
from stance.files import staged_dir

VERSION_RE = re.compile(r"^v(\d{4,})$")
LATEST = "latest"
MANIFEST = "manifest.json"


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
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir() if VERSION_RE.match(p.name) and (p / MANIFEST).is_file()]
        return sorted(names, key=lambda n: int(VERSION_RE.match(n).group(1)))

    def resolve(self, version: str) -> Path:
        """Folder of a version; ``latest`` follows the alias."""
        if version == LATEST:
            link = self.root / LATEST
            if not link.exists():
                raise RegistryError(f"no versions in registry {self.root} yet; train one with stance-train")
            return link.resolve()
        path = self.root / version
        if not VERSION_RE.match(version) or not (path / MANIFEST).is_file():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"version {version!r} not found in registry {self.root} (versions: {known})")
        return path

    def manifest(self, version: str) -> dict:
        return json.loads((self.resolve(version) / MANIFEST).read_text())

    # ------------------------------------------------------------ writing

    def _reserve(self) -> str:
        reserved = self.root / ".reserved"
        reserved.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in list(self.root.iterdir()) + list(reserved.iterdir())
                 if (m := VERSION_RE.match(p.name))]
        number = max(taken, default=0) + 1
        while True:
            name = f"v{number:04d}"
            try:
                os.mkdir(reserved / name)  # atomic: exactly one process wins a number
                return name
            except FileExistsError:
                number += 1

    @contextmanager
    def stage(self) -> Iterator[Staged]:
        """Reserve a version and a private folder; publish it if the block succeeds.

        On any error the staging folder is removed and no version appears.
        """
        version = self._reserve()
        try:
            with staged_dir(self.root / ".staging", prefix=f"{version}-") as path:
                yield Staged(version, path)
                self._publish(version, path)
        finally:
            shutil.rmtree(self.root / ".reserved" / version, ignore_errors=True)

    def _publish(self, version: str, path: Path) -> None:
        if not (path / MANIFEST).is_file():
            raise RegistryError(f"refusing to publish {version}: the run wrote no {MANIFEST}")
        target = self.root / version
        if target.exists():
            raise RegistryError(f"{target} already exists; versions are never overwritten")
        for file in path.rglob("*"):
            if file.is_file():
                file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.rename(path, target)
        self._point_latest(version)

    def _point_latest(self, version: str) -> None:
        # A new symlink renamed over the old one: readers never see it missing.
        tmp = self.root / f".{LATEST}.{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(version, tmp)
        os.replace(tmp, self.root / LATEST)
