#!/usr/bin/env python
"""Copy a version's model card into model_cards/, with the pictures it links.

    python scripts/release_card.py registry/v0007 model_cards/world_affairs-minilm.md

The pictures go to model_cards/world_affairs-minilm/ (training curve, confusion
matrices, reliability diagrams) and the copy links them there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stance.card import CARD, release_card
from stance.errors import StanceError
from stance.registry import read_version


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("version_dir", type=Path, help="a version folder (registry/vNNNN)")
    p.add_argument("dest", type=Path, help="the released card, e.g. model_cards/world_affairs-minilm.md")
    args = p.parse_args(argv)
    try:
        read_version(args.version_dir)  # a version of this format, sealed: else one line naming the manifest
    except StanceError as err:
        print(f"error: {args.version_dir}: not a version folder of this stance ({err})", file=sys.stderr)
        return 2
    if not (args.version_dir / CARD).is_file():
        print(f"error: {args.version_dir}: no {CARD}", file=sys.stderr)
        return 2
    for path in release_card(args.version_dir, args.dest):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
