"""The package's layers: each part imports only what lies below it (README "Layout").

Every ``import`` of the package's own modules is read from the source with :mod:`ast`, including
imports inside functions (a lazy import is still a dependency), and checked against the rank of
each top-level part. Parts of equal rank may not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "footdrop_outcomes"

#: rank of each top-level part: a part may import only parts of a lower rank
RANKS: dict[str, int] = {
    # ground: errors, shared helpers, the privacy guard's pure checks and the release layer
    "errors": 0, "_version": 0, "_threads": 1, "_files": 1, "_checks": 1, "_result": 1, "guard": 1, "release": 1,
    "cohort": 2,
    "privacy": 3,            # import with mapping files (cohort in, guard on every load)
    "survival": 3,
    "sources": 4,            # OMOP / REDCap through the privacy import
    "trajectories": 4, "adherence": 4, "sites": 4,  # analyses that build on survival
    "imputation": 5,         # pools the analyses above
    "report": 6,
    "studies": 7,
    "cli": 8,
}


def _own_imports(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """(line, imported top-level part) for every import of the package's own modules in ``path``."""
    rel = path.relative_to(root)
    package = ["footdrop_outcomes", *rel.parts[:-1]]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
                module = ".".join(base)
            else:
                module = node.module or ""
            if module == "footdrop_outcomes":
                names = [f"footdrop_outcomes.{a.name}" for a in node.names]
            elif module.startswith("footdrop_outcomes."):
                names = [module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("footdrop_outcomes.")]
        for name in names:
            found.append((node.lineno, name.split(".")[1]))
    return found


def _part(path: Path, root: Path = SRC) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


SOURCES = sorted(p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] != "__init__.py")


def test_every_part_has_a_rank() -> None:
    parts = {_part(p) for p in SOURCES}
    assert parts - set(RANKS) == set(), "a new top-level part needs a rank in this test (and a line in README 'Layout')"


def _upward(path: Path, root: Path = SRC) -> list[str]:
    part = _part(path, root)
    rank = RANKS[part]
    upward = []
    for line, target in _own_imports(path, root):
        if target == part:
            continue
        if target not in RANKS:  # the package root's re-exports (`from footdrop_outcomes import load_cohort`): top only
            if part != "cli":
                upward.append(f"line {line}: the package root (footdrop_outcomes.{target}) from {part}")
            continue
        if RANKS[target] >= rank:
            upward.append(f"line {line}: {target} (rank {RANKS[target]}) from {part} (rank {rank})")
    return upward


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_what_lies_below(path: Path) -> None:
    assert _upward(path) == [], f"{path.relative_to(SRC)} imports at or above its own layer"


@pytest.mark.parametrize(("where", "statement", "found"), [
    ("survival/x.py", "def f():\n    from footdrop_outcomes.report import render\n", "report"),   # lazy, upward
    ("cohort/x.py", "from footdrop_outcomes.privacy import importing\n", "privacy"),            # the old defect
    ("adherence/x.py", "from ..trajectories import gee\n", "trajectories"),                     # relative, same rank
    ("survival/x.py", "from footdrop_outcomes import load_cohort\n", "package root"),
])
def test_the_check_finds_a_planted_upward_import(tmp_path: Path, where: str, statement: str, found: str) -> None:
    root = tmp_path / "footdrop_outcomes"
    planted = root / where
    planted.parent.mkdir(parents=True)
    planted.write_text(statement, encoding="utf-8")
    upward = _upward(planted, root)
    assert len(upward) == 1 and found in upward[0]


def test_the_check_passes_a_downward_import(tmp_path: Path) -> None:
    root = tmp_path / "footdrop_outcomes"
    planted = root / "report" / "x.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("from footdrop_outcomes.survival import fit_cox\nfrom . import render\n", encoding="utf-8")
    assert _upward(planted, root) == []
