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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("version_dir", type=Path, help="a version folder (registry/vNNNN)")
    p.add_argument("dest", type=Path, help="the released card, e.g. model_cards/world_affairs-minilm.md")
    args = p.parse_args(argv)
    if not (args.version_dir / CARD).is_file() or not (args.version_dir / "manifest.json").is_file():
        print(f"error: {args.version_dir}: no {CARD} and manifest.json; not a version folder", file=sys.stderr)
        return 2
    for path in release_card(args.version_dir, args.dest):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
