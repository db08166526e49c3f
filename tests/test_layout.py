"""The package's shape: arrows point one way (cli -> pipeline -> stages -> shared), no cycles,
configs inside the package, and a user's own config folder works."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stance
from stance.config import CONFIG_DIR, PrepareJob
from stance.schemas import to_dataclass

PACKAGE = Path(stance.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIGS = ROOT / "examples" / "configs"

# Each top-level part of the package and its layer; a module may import its own
# part and parts of a lower layer. Stages may use other stages (training scores
# with evaluation's metric), as long as no cycle forms.
LAYERS = {"cli": 3, "pipeline": 2, "data": 1, "training": 1, "evaluation": 1, "gate": 1, "card": 1, "predict": 1}
SHARED = 0  # config, errors, files, labels, model, registry, provenance, ...


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """Every stance module a file imports, function-local imports included."""
    own = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("stance")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = own.split(".")[: -node.level] if path.name != "__init__.py" else own.split(".")
                base = ".".join(parts + ([base] if base else []))
            if base.startswith("stance"):
                found.add(base)
    return found


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in graph().items():
        layer = LAYERS.get(part(module), SHARED)
        for target in targets:
            if part(target) != part(module) and LAYERS.get(part(target), SHARED) > layer:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the arrows (cli -> pipeline -> stages -> shared):\n" + "\n".join(wrong)


def test_no_import_cycle_between_parts_of_the_package():
    edges = {(part(m), part(t)) for m, ts in graph().items() for t in ts if part(m) != part(t) and part(t)}
    nodes = {a for a, _ in edges} | {b for _, b in edges}
    reach = {n: {b for a, b in edges if a == n} for n in nodes}
    changed = True
    while changed:  # transitive closure; the graph has a dozen nodes
        changed = False
        for n in nodes:
            more = set().union(*(reach[m] for m in reach[n])) - reach[n]
            if more:
                reach[n] |= more
                changed = True
    cycles = sorted(n for n in nodes if n in reach[n])
    assert not cycles, f"parts of the package that import themselves through others: {cycles}"


def test_configs_are_package_data():
    assert CONFIG_DIR.parent == PACKAGE
    for name in ("train", "prepare", "evaluate", "predict"):
        assert (CONFIG_DIR / f"{name}.yaml").is_file()
    # Bundled data is found through the package, never through the source checkout around it.
    for path in CONFIG_DIR.rglob("*.yaml"):
        assert "${pkg:../" not in path.read_text(), path


def test_a_users_own_config_folder_composes_through_the_search_path():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("prepare", overrides=[f"hydra.searchpath=[file://{EXAMPLE_CONFIGS}]", "data=my_corpus"])
    job = to_dataclass(cfg, PrepareJob)
    assert job.data.name == "my_corpus" and job.data.fields.mention == "actor"
    assert job.data.labels == ["favor", "against", "neutral"]  # a default, from stance.config


def test_config_dir_flag_reads_a_users_corpus(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "stance.cli.prepare", "--config-dir", str(EXAMPLE_CONFIGS), "data=my_corpus",
           f"prepared_root={tmp_path}/prepared", f"hydra.run.dir={tmp_path}/hydra"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train 12 pairs, validation 6 pairs, test 4 pairs" in result.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in (EXAMPLE_CONFIGS / "experiment").glob("*.yaml")))
def test_example_experiments_compose(name):
    from hydra import compose, initialize_config_dir

    from stance.config import TrainJob

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra.searchpath=[file://{EXAMPLE_CONFIGS}]", f"experiment={name}"])
    assert to_dataclass(cfg, TrainJob).data.name == "my_corpus"


def test_stance_predict_reads_a_users_own_config():
    from stance.cli.predict import compose_job

    job = compose_job(["batch_size=8"], str(EXAMPLE_CONFIGS), "my_predict")
    assert (job.actors, job.alias_table, job.mentions, job.batch_size) == (
        ["Kenya", "Ethiopia", "Peru"], "none", "aggregate", 8)
    assert job.backend == "onnx"  # a default, from stance.config.PredictJob
