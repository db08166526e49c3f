"""Label Studio's side of the annotation loop: the labelling config we ship and the names it shares.

One task is one sentence. Each actor mention is a span (a region) of the sentence, labelled with the
stance the sentence expresses toward that actor: a ``Labels`` control named ``stance`` over the ``Text``
object ``text``, whose label values are the stance labels. The exporter (:mod:`stance.predict.label_studio`)
writes pre-annotated tasks in this shape, and ``stance-prepare``'s ``label_studio`` format
(:mod:`stance.data.label_studio`) reads Label Studio's JSON export of them; both take the names from here,
so the XML, the tasks and the reader cannot drift apart.

    python -m stance.label_studio > stance.xml                      # the config, to paste into a project
    python -m stance.label_studio --labels pro,con,none > mine.xml  # the same for another label set
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from stance.labels import DEFAULT_LABELS

LABEL_CONFIG = Path(__file__).parent / "resources" / "label_studio" / "stance.xml"
FROM_NAME = "stance"  # the Labels control: each region's stance
TO_NAME = "text"  # the Text object the regions are spans of
REGION_TYPE = "labels"  # a result's "type" for a span with labels
# Task data keys. The Text object shows "text"; the rest travel with the task and come back in the export.
TEXT_KEY = "text"
DOC_KEY = "doc_id"
INDEX_KEY = "sentence_index"
MENTIONS_KEY = "mentions"  # the mentions the exporter found: [{start, end, mention, actor}]; gives span actors

_LABEL_LINE = re.compile(r'^(\s*)<Label value="[^"]*"[^>]*/>\n', re.MULTILINE)
# Colours for a label set of one's own, in order (favor/against/neutral keep the packaged ones).
_PALETTE = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#9e9d24", "#5d4037")


def labelling_config(labels: Sequence[str] | None = None) -> str:
    """The packaged labelling config; with ``labels``, one ``Label`` per label instead of the packaged three."""
    xml = LABEL_CONFIG.read_text(encoding="utf-8")
    if labels is None or list(labels) == list(DEFAULT_LABELS):
        return xml
    first = _LABEL_LINE.search(xml)  # the packaged file has its three; a label set of one's own replaces them
    indent = first.group(1) if first else "    "
    body = "".join(f'{indent}<Label value="{_attribute(name)}" background="{_PALETTE[i % len(_PALETTE)]}"/>\n'
                   for i, name in enumerate(labels))
    at = first.start() if first else xml.index("</Labels>")
    return xml[:at] + body + _LABEL_LINE.sub("", xml[at:])


def config_labels(xml: str) -> list[str]:
    """The label values a labelling config offers, in order."""
    return re.findall(r'<Label value="([^"]*)"', xml)


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stance.label_studio", description=__doc__.splitlines()[0])
    parser.add_argument("--labels", help="comma-separated label set (default: favor,against,neutral)")
    args = parser.parse_args(argv)
    labels = [name.strip() for name in args.labels.split(",")] if args.labels is not None else None
    if labels is not None and (not all(labels) or len(set(labels)) != len(labels)):
        parser.error(f"--labels {args.labels!r}: each label once, none empty (e.g. --labels pro,con,none)")
    print(labelling_config(labels), end="")


if __name__ == "__main__":
    main()
