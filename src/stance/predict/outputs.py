"""What a run produces: rows, per-document summaries, and the files and table they go to.

A row is one (sentence, mention) pair, or one (sentence, actor) pair in
``aggregate`` mode; its ``start``/``end`` index its ``sentence`` field and
``sentence_start`` is that sentence's offset in the document. The writers only
format: every output file is rendered in memory first and then written with
one atomic rename each, so a failed run leaves no partial file.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from stance.config import PredictJob
from stance.errors import EnvironmentFailure, InputError
from stance.files import write_files_atomic
from stance.labels import LabelSet
from stance.predict.label_studio import tasks_text
from stance.predict.mentions import Mention
from stance.predict.segmentation import Sentence

# ---------------------------------------------------------------- rows and summaries


UNCERTAIN = "uncertain"  # the label of a row below PredictJob.min_confidence


def _row(sentence: Sentence, mentions: list[Mention], probs: list[float], labels: LabelSet,
         min_confidence: float | None = None) -> dict[str, Any]:
    best = max(range(len(probs)), key=probs.__getitem__)
    first = mentions[0]
    label = labels.names[best]
    row = {
        "doc_id": sentence.doc_id,
        "sentence_index": sentence.index,
        "sentence_start": sentence.start,
        "sentence": sentence.text,
        "actor": first.actor,
        "mention": first.mention,
        "start": first.start,
        "end": first.end,
        "spans": [[m.start, m.end] for m in mentions],
        "label": label,
        "probs": {name: round(float(p), 6) for name, p in zip(labels.names, probs, strict=True)},
    }
    if min_confidence is not None:
        row["confidence"] = round(float(probs[best]), 6)
        row["model_label"] = label
        if probs[best] < min_confidence:
            row["label"] = UNCERTAIN
    return row


def build_rows(sentence: Sentence, mentions: list[Mention], probs: list[list[float]], labels: LabelSet,
               mode: str = "each", min_confidence: float | None = None) -> list[dict[str, Any]]:
    """One row per mention, or one per actor with the mean of its mentions' probabilities."""
    if mode == "each":
        return [_row(sentence, [m], p, labels, min_confidence) for m, p in zip(mentions, probs, strict=True)]
    by_actor: dict[str, list[int]] = {}
    for i, m in enumerate(mentions):
        by_actor.setdefault(m.actor, []).append(i)
    rows = []
    for idx in by_actor.values():
        mean = [sum(probs[i][k] for i in idx) / len(idx) for k in range(len(labels))]
        rows.append(_row(sentence, [mentions[i] for i in idx], mean, labels, min_confidence))
    return rows


def _count_names(rows: list[dict[str, Any]], labels: LabelSet) -> list[str]:
    """The labels counted per actor: the model's, and "uncertain" when a confidence floor was set."""
    return [*labels.names, UNCERTAIN] if any("model_label" in r for r in rows) else list(labels.names)


def summarise(doc_id: str, n_sentences: int, rows: list[dict[str, Any]], labels: LabelSet) -> dict[str, Any]:
    """Per actor: label counts, mean probabilities and a net stance score.

    ``net`` is (favor - against) / rows, from -1 (every row against) to +1
    (every row in favour); null when the label set has no favor/against pair.
    """
    actors: dict[str, dict[str, Any]] = {}
    names = _count_names(rows, labels)
    for row in rows:
        a = actors.setdefault(row["actor"], {"rows": 0, "mentions": 0,
                                             "counts": dict.fromkeys(names, 0),
                                             "mean_probs": dict.fromkeys(labels.names, 0.0)})
        a["rows"] += 1
        a["mentions"] += len(row["spans"])
        a["counts"][row["label"]] += 1
        for name in labels.names:
            a["mean_probs"][name] += row["probs"][name]
    polar = "favor" in labels.names and "against" in labels.names
    for a in actors.values():
        a["mean_probs"] = {k: round(v / a["rows"], 6) for k, v in a["mean_probs"].items()}
        a["net"] = round((a["counts"]["favor"] - a["counts"]["against"]) / a["rows"], 4) if polar else None
    ordered = dict(sorted(actors.items(), key=lambda kv: (-kv[1]["rows"], kv[0])))
    return {"doc_id": doc_id, "sentences": n_sentences, "pairs": len(rows), "actors": ordered}


# ---------------------------------------------------------------- files


@dataclass
class PredictResult:
    """One run's rows, summaries and metadata, as the writers take them.

    It lives here rather than beside :func:`run_prediction`, which builds it, so
    that ``run`` imports ``outputs`` and never the other way round.
    """

    rows: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    labels: LabelSet
    meta: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    missing_actors: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # Label Studio tasks, with --export label-studio


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def csv_text(rows: list[dict[str, Any]], labels: LabelSet) -> str:
    buf = io.StringIO()
    columns = ["doc_id", "sentence_index", "sentence_start", "actor", "mention", "start", "end", "spans",
               "label", *(f"p_{name}" for name in labels.names), "sentence"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        spans = ";".join(f"{s}-{e}" for s, e in r["spans"])
        writer.writerow([r["doc_id"], r["sentence_index"], r["sentence_start"], r["actor"], r["mention"],
                         r["start"], r["end"], spans, r["label"], *(r["probs"][n] for n in labels.names),
                         r["sentence"]])
    return buf.getvalue()


def summary_text(result: PredictResult) -> str:
    return json.dumps({**result.meta, "missing_actors": result.missing_actors, "documents": result.summaries},
                      indent=2, ensure_ascii=False) + "\n"


def output_paths(job: PredictJob) -> dict[str, Path]:
    """The output files asked for, by option name (``--out -`` is stdout, not a file)."""
    named = {"out": job.out if job.out != "-" else None, "csv": job.csv, "summary": job.summary,
             "export": job.export.path}
    return {name: Path(value) for name, value in named.items() if value}


def check_output_paths(job: PredictJob) -> None:
    """Refuse, before any work, outputs that collide with each other or an input, or cannot be files.

    Written by hand because each rule protects something the atomic writer cannot: two options naming
    one file would keep only the last one written, and an output onto an input would replace the text.
    """
    paths = output_paths(job)
    seen: dict[Path, str] = {}
    inputs = {Path(i).resolve(): i for i in job.inputs if i != "-" and Path(i).is_file()}
    # An earlier round's tasks or export is the record of what was labelled: never written over.
    excluded = {Path(i).resolve() for i in job.export.exclude}
    for name, path in paths.items():
        key = path.resolve()
        if key in seen:
            raise InputError(f"--{name} and --{seen[key]} both name {path}; give each output its own file")
        if key in inputs:
            raise InputError(f"--{name} {path} is an input file; writing there would replace it")
        if key in excluded:
            raise InputError(f"--{name} {path} is an --exclude file; writing there would replace the record of "
                             "an earlier round")
        if path.is_dir():
            raise InputError(f"--{name} {path} is a folder; name a file")
        if not path.parent.is_dir():
            raise InputError(f"--{name} {path}: folder {path.parent} does not exist")
        seen[key] = name


def write_outputs(job: PredictJob, result: PredictResult, stdout: TextIO) -> list[Path]:
    files: dict[Path, str | bytes] = {}
    if job.out and job.out != "-":
        files[Path(job.out)] = jsonl_text(result.rows)
    if job.csv:
        files[Path(job.csv)] = csv_text(result.rows, result.labels)
    if job.summary:
        files[Path(job.summary)] = summary_text(result)
    if job.export.path:
        files[Path(job.export.path)] = tasks_text(result.tasks)
    # Every file is written under a temporary name before any is renamed into place (mode 0644).
    try:
        written = write_files_atomic(files)
    except OSError as err:
        raise EnvironmentFailure.from_os_error(err, "cannot write the outputs; none was changed") from None
    if job.out == "-":
        stdout.write(jsonl_text(result.rows))
        stdout.flush()
    return written


# ---------------------------------------------------------------- terminal table


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _snippet(row: dict[str, Any], width: int) -> str:
    """The sentence around the mention, with the mention in [brackets]."""
    s, start, end = row["sentence"], row["start"], row["end"]
    marked = s[:start] + "[" + s[start:end] + "]" + s[end:]
    if len(marked) <= width:
        return marked
    lo = max(0, min(start - width // 3, len(marked) - width))
    hi = lo + width
    piece = marked[lo:hi]
    if lo > 0:
        piece = "…" + piece[1:]
    if hi < len(marked):
        piece = piece[:-1] + "…"
    return piece


def _grid(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                                                strict=True))).rstrip()
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def format_table(rows: list[dict[str, Any]], summaries: list[dict[str, Any]], labels: LabelSet,
                 width: int | None = None) -> str:
    """Rows, then each document's per-actor aggregate, as plain-text tables."""
    width = width or shutil.get_terminal_size((120, 20)).columns
    names = _count_names(rows, labels)
    body = [[_clip(r["doc_id"], 16), str(r["sentence_index"]), _clip(r["actor"], 20), r["label"],
             f"{max(r['probs'].values()):.2f}"] for r in rows]
    used = sum(max([len(b[i]) for b in body] + [8]) + 2 for i in range(5)) if body else 60
    for b, r in zip(body, rows, strict=True):
        b.append(_snippet(r, max(width - used, 30)))
    header = ["doc", "sent", "actor", "label", "p", "sentence"]
    lines = _grid(header, body, {1, 4}) if rows else ["no actor mentions found"]
    counts = [[_clip(s["doc_id"], 16), _clip(actor, 20), str(a["rows"]),
               *(str(a["counts"][n]) for n in names), "-" if a["net"] is None else f"{a['net']:+.2f}"]
              for s in summaries for actor, a in s["actors"].items()]
    if counts:
        lines += ["", "per document:"]
        lines += _grid(["doc", "actor", "rows", *names, "net"], counts, set(range(2, 4 + len(names))))
    return "\n".join(lines)
