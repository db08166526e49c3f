"""``stance-models``: list the registry's versions, show or verify one, collect what dead runs left."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from stance.config import REGISTRY
from stance.errors import USER_ERROR_EXIT, environment_failure
from stance.registry import Registry, RegistryError, read_version, verify_checkpoint
from stance.runs import stale_prepare_temporaries, stale_runs
from stance.version_format import FormatError

GC_MAX_AGE_DAYS = 7.0  # resumable work folders of dead runs older than this are removed by gc


def list_versions(registry: Registry) -> str:
    if not registry.root.is_dir():  # a mistyped --registry must not read as an empty registry
        raise RegistryError(f"registry {registry.root}: no such folder (stance-train creates it; --registry names "
                            "another)")
    rows = [("version", "created", "data", "encoder", "main metric")]
    for version in registry.versions():
        try:
            m = read_version(registry.root / version)
            split = next((s for s in m.metrics if s != m.validation_split), m.validation_split)
            main = m.metrics.get(split, {}).get(m.main_metric)
            score = f"{split} {m.main_metric}={main:.4f}" if main is not None else "-"
            rows.append((version, m.created, m.data["name"], m.model["name"], score))
        except (RegistryError, FormatError, KeyError, TypeError, AttributeError) as err:
            # One broken version must not hide the others.
            reason = str(err) if isinstance(err, RegistryError) else f"manifest lacks {err}"
            rows.append((version, "BROKEN", "-", "-", reason))
    if len(rows) == 1:
        return f"no versions in {registry.root}"
    try:
        latest = registry.resolve("latest").name
    except RegistryError as err:  # e.g. latest -> /etc: list the versions anyway, and say so
        latest = None
        rows.append(("latest", "BROKEN", "-", "-", str(err)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + ("  <- latest" if r[0] == latest else "")
             for r in rows]
    return "\n".join(lines)


def show(registry: Registry, version: str) -> str:
    """The manifest of a version whose model files match it."""
    verify_checkpoint(registry.resolve(version))
    return json.dumps(registry.manifest(version), indent=2)


def verify(registry: Registry, version: str) -> int:
    path = registry.resolve(version)
    problems = registry.verify(version)
    for problem in problems:
        print(f"{path.name}: {problem}")
    if problems:
        print(f"error: {path} differs from its manifest ({len(problems)} problem(s))", file=sys.stderr)
        return USER_ERROR_EXIT
    n = len(registry.manifest(version)["artifacts_sha256"])
    print(f"{path.name}: all {n} files match {path / 'manifest.json'}")
    return 0


def collect_garbage(registry: Registry, work_dir: str, max_age_days: float, prepared_root: str = "prepared") -> str:
    done = registry.collect_garbage()
    for run in stale_runs(work_dir, max_age_days):
        shutil.rmtree(run)
        done.append(f"removed {run} (work folder of a dead run: published, diverged, nothing to resume, or older "
                    f"than {max_age_days:g} days)")
    for tmp in stale_prepare_temporaries(prepared_root):
        shutil.rmtree(tmp)
        done.append(f"removed {tmp} (staging folder of a killed stance-prepare)")
    return "\n".join(done) if done else "nothing to remove"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stance-models", description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=REGISTRY, help=f"registry root (default: ./{REGISTRY})")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per version (broken ones marked BROKEN)")
    show_cmd = sub.add_parser("show", help="print one version's manifest (after checking its model files)")
    show_cmd.add_argument("version", help="a version such as v0003, or 'latest'")
    verify_cmd = sub.add_parser("verify", help="check every file of a version against its manifest (exit 2 if any "
                                "differs)")
    verify_cmd.add_argument("version", help="a version such as v0003, or 'latest'")
    gc = sub.add_parser("gc", help="remove what dead runs left: reservations, staging and work folders")
    gc.add_argument("--work-dir", default="runs", help="stance-train's work_dir (default: ./runs)")
    gc.add_argument("--prepared-root", default="prepared",
                    help="stance-prepare's prepared_root (default: ./prepared): killed prepares' temporaries")
    gc.add_argument("--max-age-days", type=float, default=GC_MAX_AGE_DAYS,
                    help=f"also remove resumable work folders of dead runs older than this (default: "
                         f"{GC_MAX_AGE_DAYS:g})")
    args = parser.parse_args(argv)
    registry = Registry(args.registry)
    try:
        if args.command == "list":
            print(list_versions(registry))
        elif args.command == "show":
            print(show(registry, args.version))
        elif args.command == "verify":
            return verify(registry, args.version)
        else:
            print(collect_garbage(registry, args.work_dir, args.max_age_days, args.prepared_root))
    except RegistryError as err:
        print(f"error: {err}", file=sys.stderr)
        return USER_ERROR_EXIT
    except OSError as err:
        failure = environment_failure(err)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        return failure.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
