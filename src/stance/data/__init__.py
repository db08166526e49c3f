"""Stage 1: dataset preparation.

Reads a stance corpus (span JSONL, flat CSV/TSV/JSONL table, a Hub dataset, or a
Label Studio JSON export), validates every row, carves grouped splits, and writes a prepared-dataset folder
(``prepared/<name>-<fingerprint>/``: a manifest and one ``datasets`` split per folder).

One prepared row is one sentence with all its targets, so both per-pair and
per-sentence encodings can be built from it later.  A target without a span (a
topic such as "Legalization of Abortion" that the text never names) has
``start == end == -1``; the model encodes it as a sentence pair without markers.

Validation collects every problem before failing, so one run lists all bad rows
(``file:line: field: rule``).  docs/data.md describes the formats and rules.

The modules, in the order data flows through them (each imports only those before it):

    records    Problem, Target, Sentence, RawRow
    readers    source files and Hub datasets -> raw rows
    parse      raw rows -> sentences, collecting problems
    label_studio  a Label Studio JSON export -> sentences (annotators, skips, adjudication), and its report
    splits     grouped carving of validation/test, train subsets
    checks     config validation; duplicates, leaks and shared documents
    corpus     read_corpus, build_splits: the whole corpus in memory
    prepared   fingerprint, the prepared folder and its manifest
    inspect    what a config reads, for ``stance-prepare --inspect`` (imported on its own)
"""

from __future__ import annotations

from stance.data.checks import shared_documents, validate_config
from stance.data.corpus import build_splits, read_corpus
from stance.data.prepared import Prepared, fingerprint, load_prepared, prepare
from stance.data.readers import read_rows
from stance.data.records import Problem, Sentence, Target
from stance.data.splits import carve_splits
from stance.errors import DataError

__all__ = [
    "DataError", "Prepared", "Problem", "Sentence", "Target", "build_splits", "carve_splits", "fingerprint",
    "load_prepared", "prepare", "read_corpus", "read_rows", "shared_documents", "validate_config",
]
