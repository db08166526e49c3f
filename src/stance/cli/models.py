"""``stance-models``: list the registry's versions or show one manifest."""

from __future__ import annotations

import argparse
import json
import sys

from stance.registry import Registry, RegistryError


def list_versions(registry: Registry) -> str:
    rows = [("version", "created", "data", "encoder", "main metric")]
    for version in registry.versions():
        m = registry.manifest(version)
        split = next((s for s in m["metrics"] if s != "validation"), "validation")
        main = m["metrics"].get(split, {}).get(m["main_metric"])
        score = f"{split} {m['main_metric']}={main:.4f}" if main is not None else "-"
        rows.append((version, m["created"], m["data"]["name"], m["model"]["name"], score))
    if len(rows) == 1:
        return f"no versions in {registry.root}"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    latest = registry.resolve("latest").name
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + ("  <- latest" if r[0] == latest else "")
             for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stance-models", description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default="registry", help="registry root (default: ./registry)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per version")
    show = sub.add_parser("show", help="print one version's manifest")
    show.add_argument("version", help="a version such as v0003, or 'latest'")
    args = parser.parse_args(argv)
    registry = Registry(args.registry)
    try:
        if args.command == "list":
            print(list_versions(registry))
        else:
            print(json.dumps(registry.manifest(args.version), indent=2))
    except RegistryError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
