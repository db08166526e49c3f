#!/usr/bin/env python
"""``python scripts/predict.py ...`` is ``stance-predict ...``: the same entry point."""

import sys

from stance.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
