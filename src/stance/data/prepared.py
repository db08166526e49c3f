"""The prepared-dataset folder: fingerprint, write, reuse and load.

    prepared/<name>-<fingerprint[:16]>/
        manifest.json        sources and their SHA-256, config, counts, drops
        <split>/             one Hugging Face ``datasets`` split per folder

The fingerprint covers every source file's hash and the data config, so
preparing twice with the same inputs reuses the folder, and any change to an
input file or to the config gives a new one. A folder is built under a
temporary name and renamed into place: it is complete or absent.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets

from stance.config import DataConfig, FormatOptions
from stance.data.checks import shared_documents, validate_config
from stance.data.corpus import build_splits, reason_examples
from stance.data.label_studio import export_report
from stance.data.readers import load_hub, source_file
from stance.data.records import OUTPUT_TARGET_KEYS, Problem, Sentence
from stance.errors import DataError
from stance.files import sha256_file, sha256_text, staged_dir

log = logging.getLogger(__name__)

PREPARE_FORMAT = 2  # bump when the prepared layout or validation rules change
MANIFEST = "manifest.json"
MAX_RECORDED = 1000  # problems listed in a manifest
# Config keys that do not change the data: the same files elsewhere are the same
# data; source_hint, hub_id and domain only describe them.
_NOT_FINGERPRINTED = ("path", "source_hint", "hub_id", "domain")


@dataclass
class Prepared:
    path: Path
    manifest: dict

    def split(self, name: str) -> datasets.Dataset:
        folder = self.path / name
        if not folder.is_dir():
            have = list(self.manifest["splits"])
            raise DataError(f"split {name!r} is not in prepared dataset {self.path} (has {have})")
        return datasets.load_from_disk(str(folder))

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])


def _hub_is_local(cfg: DataConfig) -> bool:
    return Path(cfg.path).expanduser().is_dir()


def _source_hashes(cfg: DataConfig) -> dict[str, str]:
    if cfg.format == "hub":
        if _hub_is_local(cfg):
            local = Path(cfg.path).expanduser()
            # Hidden entries (.git, caches) are not data.
            files = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
            files = [p for p in files if not any(part.startswith(".") for part in p.parts)]
            return {str(p): sha256_file(local / p) for p in files}
        # A remote dataset: datasets' own fingerprint of each split follows the
        # resolved revision's files, so a new upload gives a new fingerprint.
        return {f"hub:{cfg.path}@{cfg.revision or 'main'}[{cfg.files[s]}]": load_hub(cfg, s)._fingerprint
                for s in cfg.files}
    return {cfg.files[split]: sha256_file(source_file(cfg, split)) for split in cfg.files}


def fingerprint(cfg: DataConfig, hashes: dict[str, str]) -> str:
    """SHA-256 of the prepare format, the data config and the source hashes."""
    payload = {k: v for k, v in asdict(cfg).items() if k not in _NOT_FINGERPRINTED}
    # Default reading options leave the fingerprint as it was before they existed, so earlier
    # prepared folders stay valid; any other value is part of it.
    if cfg.format_options == FormatOptions():
        payload.pop("format_options")
    elif cfg.format_options.annotations == FormatOptions.annotations:  # added with format label_studio
        payload["format_options"].pop("annotations")
    if cfg.train_documents == 1.0:  # likewise: all documents is what every earlier folder holds
        payload.pop("train_documents")
    blob = json.dumps({"format": PREPARE_FORMAT, "config": payload, "sources": hashes}, sort_keys=True)
    return sha256_text(blob)


def _to_dataset(sentences: list[Sentence]) -> datasets.Dataset:
    rows = [
        {"id": s.id, "doc_id": s.doc_id, "text": s.text,
         "targets": [{k: getattr(t, k) for k in OUTPUT_TARGET_KEYS} for t in s.targets]}
        for s in sentences
    ]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "doc_id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "targets": datasets.List(
                {
                    "id": datasets.Value("string"),
                    "start": datasets.Value("int32"),
                    "end": datasets.Value("int32"),
                    "mention": datasets.Value("string"),
                    "actor": datasets.Value("string"),
                    "label": datasets.Value("string"),
                    "further_starts": datasets.List(datasets.Value("int32")),
                    "further_ends": datasets.List(datasets.Value("int32")),
                }
            ),
        }
    )
    return datasets.Dataset.from_list(rows, features=features)


def _counts(sentences: list[Sentence]) -> dict:
    labels = Counter(t.label for s in sentences for t in s.targets)
    return {
        "sentences": len(sentences),
        "pairs": sum(labels.values()),
        "documents": len({s.doc_id for s in sentences}),
        "labels": dict(sorted(labels.items())),
        "multi_target_sentences": sum(1 for s in sentences if len(s.targets) > 1),
        "topic_targets": sum(1 for s in sentences for t in s.targets if t.start < 0),
    }


def _dropped(problems: list[Problem]) -> dict:
    return {
        "rows": len({(p.file, p.line) for p in problems}),
        "reasons": dict(Counter(p.kind for p in problems).most_common()),
        "examples": reason_examples(problems),  # the first few problems of each reason
        "problems": [str(p) for p in problems[:MAX_RECORDED]],
        "problems_not_listed": max(0, len(problems) - MAX_RECORDED),
    }


def _save(splits: dict[str, list[Sentence]], folder: Path) -> dict[str, str]:
    """Write each split; returns the ``datasets`` fingerprint of each."""
    fingerprints = {}
    quiet = datasets.is_progress_bar_enabled()  # saving takes milliseconds; its bars are noise
    if quiet:
        datasets.disable_progress_bars()
    try:
        for name, sentences in splits.items():
            ds = _to_dataset(sentences)
            ds.save_to_disk(str(folder / name))
            fingerprints[name] = ds._fingerprint
    finally:
        if quiet:
            datasets.enable_progress_bars()
    return fingerprints


def _write(cfg: DataConfig, out: Path, fp: str, hashes: dict[str, str],
           splits: dict[str, list[Sentence]], problems: list[Problem], shared: dict[str, int]) -> dict:
    """Build in a staged folder and rename it to ``out``: a prepared folder is complete or absent."""
    try:
        with staged_dir(out.parent, prefix=f".{out.name}-") as tmp:
            manifest = {
                "name": cfg.name,
                "fingerprint": fp,
                "prepare_format": PREPARE_FORMAT,
                "sources": hashes,
                "config": asdict(cfg),
                "splits": {name: _counts(rows) for name, rows in splits.items()},
                "dropped": _dropped(problems),
                "shared_documents": shared,
                "datasets_fingerprints": _save(splits, tmp),
                "datasets_version": datasets.__version__,
            }
            if cfg.format == "label_studio":  # the tasks and annotations used, skipped and disputed
                manifest["label_studio"] = export_report(cfg)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
            os.rename(tmp, out)  # fails when ``out`` exists: never replace a folder someone may be reading
    except OSError:
        if (out / MANIFEST).is_file():  # a concurrent run finished first; same fingerprint, same content
            return json.loads((out / MANIFEST).read_text())
        raise
    return manifest


def prepare(cfg: DataConfig, prepared_root: str | Path) -> Prepared:
    """Prepare ``cfg`` under ``prepared_root``, reusing an identical earlier run."""
    validate_config(cfg)
    hashes = _source_hashes(cfg)
    fp = fingerprint(cfg, hashes)
    out = Path(prepared_root) / f"{cfg.name}-{fp[:16]}"
    if (out / MANIFEST).is_file():
        log.info("reusing prepared data %s", out)
        return Prepared(out, json.loads((out / MANIFEST).read_text()))
    splits, problems = build_splits(cfg)
    shared = shared_documents(splits)
    if shared:
        log.warning("given splits share documents (recorded in the manifest): %s", shared)
    if problems:
        log.warning("dropped %d invalid row(s): %s", len({(p.file, p.line) for p in problems}),
                    dict(Counter(p.kind for p in problems)))
    manifest = _write(cfg, out, fp, hashes, splits, problems, shared)
    for split, report in manifest.get("label_studio", {}).items():
        if report["disagreement_count"]:
            log.warning("label_studio %s: annotators disagree on %d span(s) (%d tie(s) dropped); listed in %s "
                        "under label_studio.%s.disagreements", split, report["disagreement_count"],
                        report["ties_dropped"], out / MANIFEST, split)
    log.info("prepared %s: %s", out, {k: v["pairs"] for k, v in manifest["splits"].items()})
    return Prepared(out, manifest)


def load_prepared(path: str | Path) -> Prepared:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise DataError(f"{path} is not a prepared dataset (no {MANIFEST}); run stance-prepare")
    return Prepared(path, json.loads((path / MANIFEST).read_text()))
