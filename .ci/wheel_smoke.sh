#!/usr/bin/env bash
# The package as a user on a cluster node gets it: the wheel is built, installed
# (not editable) into a fresh virtual environment, and every command runs from a
# folder outside the checkout, so nothing may depend on the source tree.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip wheel -q --no-deps -w "$work/dist" "$repo"
# configs/ is the one config folder (src/stance/conf is a symlink to it): the wheel must carry exactly its files.
python3 - "$repo" "$work"/dist/stance-*.whl <<'PY'
import pathlib, sys, zipfile
repo, wheel = pathlib.Path(sys.argv[1]), sys.argv[2]
shipped = {n.removeprefix("stance/conf/") for n in zipfile.ZipFile(wheel).namelist() if n.startswith("stance/conf/")}
ours = {str(p.relative_to(repo / "configs")) for p in (repo / "configs").rglob("*") if p.is_file()}
assert shipped == ours, f"wheel and configs/ differ: only in the wheel {sorted(shipped - ours)}, only in configs/ {sorted(ours - shipped)}"
print(f"the wheel carries the {len(ours)} files of configs/")
PY
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/stance-*.whl
bin="$work/venv/bin"

mkdir "$work/elsewhere" && cd "$work/elsewhere"
"$bin/python" - <<'PY'
import pathlib, stance
where = pathlib.Path(stance.__file__).resolve()
assert "site-packages" in where.parts, f"stance imported from {where}, not from the installed wheel"
print(f"stance imported from {where.parent}")
PY
"$bin/stance-train" debug=tiny
"$bin/stance-evaluate" version=latest
echo "Brazil welcomed the ceasefire brokered by Qatar, while Venezuela accused Washington of sabotaging the talks." \
    | "$bin/stance-predict" --out rows.jsonl --no-table
test -s rows.jsonl
"$bin/stance-models" list
grep -q '"commit": "unknown"' registry/v0001/manifest.json  # a wheel is not a checkout: no git state
echo "wheel smoke test passed in $work/elsewhere"
