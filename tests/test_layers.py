"""The layer rule of docs/architecture.md, checked on the source: who may import whom.

    errors -> nn, data -> engine (state, keys, config, optim, images, sharding,
    checkpoint, components) -> metrics -> family groups -> engine.loop,
    engine.run, cli

Imports are read with `ast` (module-level and inside functions alike), so a
lazy import does not hide a break.
"""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "jaxgen")
BASE = ("nn", "data", "engine", "metrics")
FAMILY_GROUPS = sorted(d for d in os.listdir(ROOT)
                       if os.path.isfile(os.path.join(ROOT, d, "family.py")))
TOP_OF_ENGINE = ("jaxgen.engine.loop", "jaxgen.engine.run")


def imports_of(path: str) -> set:
    """Every jaxgen module a file imports (from-imports resolved to modules)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("jaxgen"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxgen"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def files_of(package: str):
    folder = os.path.join(ROOT, package)
    for dirpath, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def breaks(package: str, forbidden) -> list:
    out = []
    for path in files_of(package):
        for module in imports_of(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{os.path.relpath(path, ROOT)} imports {module}")
    return sorted(out)


def test_there_are_family_groups():
    assert {"vae", "gan", "diffusion"} <= set(FAMILY_GROUPS)


@pytest.mark.parametrize("group", FAMILY_GROUPS)
def test_families_never_import_the_loop_or_the_run_loader(group):
    assert breaks(group, TOP_OF_ENGINE) == []


def test_metrics_import_no_family_and_nothing_above_them():
    families = [f"jaxgen.{g}" for g in FAMILY_GROUPS]
    assert breaks("metrics", families + list(TOP_OF_ENGINE) + ["jaxgen.cli"]) == []


@pytest.mark.parametrize("package", ["nn", "data"])
def test_the_ground_floor_imports_no_engine_metrics_or_family(package):
    above = ["jaxgen.engine", "jaxgen.metrics", "jaxgen.cli", "jaxgen.registry"] + [
        f"jaxgen.{g}" for g in FAMILY_GROUPS]
    assert breaks(package, above) == []


@pytest.mark.parametrize("group", FAMILY_GROUPS)
def test_no_family_imports_another_familys_losses(group):
    others = [f"jaxgen.{g}.losses" for g in FAMILY_GROUPS if g != group]
    assert breaks(group, others) == []


@pytest.mark.parametrize("group", FAMILY_GROUPS)
def test_evaluation_and_pictures_never_import_their_family_face(group):
    face = f"jaxgen.{group}.family"
    circles = []
    for name in ("evaluation.py", "pictures.py"):
        path = os.path.join(ROOT, group, name)
        if os.path.exists(path) and any(m == face or m.startswith(face + ".")
                                        for m in imports_of(path)):
            circles.append(name)
    assert circles == []
