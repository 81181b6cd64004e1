"""A small AST mutation tester for the release-control layer and the statistical core.

Why not mutmut: mutmut 3 copies the project into ``mutants/`` and rewrites every function into a
trampoline, which fights this project's ``src`` layout, ``--import-mode=importlib``, the doctest
collection and pytest-xdist in ``addopts``; a 200-line mutator that only needs the standard
library was quicker to make reliable. It is kept deliberately simple:

* operators: ``<``/``<=``/``>``/``>=``/``==``/``!=`` swapped with their neighbour, ``+``/``-``
  and ``*``/``/`` swapped, ``and``/``or`` swapped, ``not`` dropped, ``True``/``False`` swapped,
  integer constants ``n -> n + 1``, float constants ``x -> 2 x`` (``0.0 -> 1.0``), a ``return``
  value replaced by ``None``; nothing inside docstrings, f-strings, annotations or error messages;
* each mutant is written into a git worktree (never the shared checkout), the relevant tests run
  in a child process forked from a parent that has already imported numpy/pandas/scipy/
  statsmodels/lifelines/pytest (so a mutant costs the test time, not the import time), the file
  is restored; a mutant is *killed* when the tests fail or time out.

Usage (from the shared checkout; the worktree needs an install of itself)::

    git worktree add /work/mut2 HEAD
    /work/mut/.venv/bin/python benchmarks/mutation/mutate.py --root /work/mut2 \
        --config benchmarks/mutation/config.toml [--target release] [--minutes 20]

Prints one line per surviving mutant (file:line, what changed) and the score per target.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import signal
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_BOOL = {ast.And: ast.Or, ast.Or: ast.And}


@dataclass(frozen=True)
class Mutant:
    file: str
    index: int  # which mutable site (in ast.walk order)
    line: int
    what: str


def _skip_ids(tree: ast.AST) -> set[int]:
    """Nodes not to mutate: docstrings, f-strings, annotations, raise/warn statements."""
    skip: set[int] = set()

    def mark(node: ast.AST) -> None:
        for n in ast.walk(node):
            skip.add(id(n))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                mark(body[0])
        if isinstance(node, (ast.JoinedStr, ast.Raise)):
            mark(node)
        if isinstance(node, ast.AnnAssign) and node.annotation is not None:
            mark(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.returns is not None:
                mark(node.returns)
            for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                if a.annotation is not None:
                    mark(a.annotation)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "warn":
            mark(node)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            mark(node)
    return skip


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    skip = _skip_ids(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP:
            out.append((node, f"{type(node.ops[0]).__name__} -> {_CMP[type(node.ops[0])].__name__}"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            out.append((node, f"{type(node.op).__name__} -> {_BIN[type(node.op)].__name__}"))
        elif isinstance(node, ast.BoolOp) and type(node.op) in _BOOL:
            out.append((node, f"{type(node.op).__name__} -> {_BOOL[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            out.append((node, "not dropped"))
        elif isinstance(node, ast.Constant) and type(node.value) in (bool, int, float):
            v = node.value
            new = (not v) if isinstance(v, bool) else (v + 1 if isinstance(v, int) else (2 * v if v else 1.0))
            out.append((node, f"{v!r} -> {new!r}"))
        elif isinstance(node, ast.Return) and node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            out.append((node, "return None"))
    return out


def _apply(tree: ast.Module, index: int) -> str:
    tree = copy.deepcopy(tree)
    node, _ = _sites(tree)[index]
    if isinstance(node, ast.Compare):
        node.ops = [_CMP[type(node.ops[0])]()]
    elif isinstance(node, ast.BinOp):
        node.op = _BIN[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = _BOOL[type(node.op)]()
    elif isinstance(node, ast.UnaryOp):
        return _replace_unary(tree, node)  # `not x` -> `x`
    elif isinstance(node, ast.Constant):
        v = node.value
        node.value = (not v) if isinstance(v, bool) else (v + 1 if isinstance(v, int) else (2 * v if v else 1.0))
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(None)
    return ast.unparse(tree)


def _replace_unary(tree: ast.Module, target: ast.UnaryOp) -> str:
    class T(ast.NodeTransformer):
        def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
            self.generic_visit(node)
            return node.operand if node is target else node

    return ast.unparse(T().visit(tree))


def mutants(path: Path, rel: str) -> tuple[ast.Module, list[Mutant]]:
    tree = ast.parse(path.read_text())
    return tree, [Mutant(rel, k, getattr(n, "lineno", 0), w) for k, (n, w) in enumerate(_sites(tree))]


def _run_tests(root: Path, tests: list[str], extra: list[str], timeout: float) -> str:
    pid = os.fork()
    if pid == 0:  # child: imports of the package read the mutated file
        try:
            sys.dont_write_bytecode = True
            os.chdir(root)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            code = pytest.main(["-x", "-q", "-n", "0", "-p", "no:cacheprovider", *extra, *tests])
        except BaseException:  # noqa: BLE001 -- the forked child must always reach os._exit
            code = 3
        os._exit(int(code))
    t0 = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return {0: "survived", 1: "killed", 5: "no tests"}.get(code, f"error {code}")
        if time.monotonic() - t0 > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "killed (timeout)"
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="AST mutation testing (see module docstring)")
    ap.add_argument("--root", type=Path, required=True, help="git worktree to mutate (never the shared checkout)")
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("config.toml"))
    ap.add_argument("--target", action="append", default=None, help="target name(s) from the config (default all)")
    ap.add_argument("--minutes", type=float, default=None, help="time box per target (overrides the config)")
    ap.add_argument("--seed", type=int, default=1, help="order in which mutants are tried (time box reached: a random subset)")
    a = ap.parse_args(argv)
    cfg = tomllib.loads(a.config.read_text())
    root = a.root.resolve()
    # heavy imports once, in the parent (children are forked from here); not the package itself
    import lifelines  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pytest  # noqa: F401
    import scipy.optimize
    import scipy.stats  # noqa: F401
    import statsmodels.api  # noqa: F401

    if any(m.startswith("footdrop_outcomes") for m in sys.modules):
        raise SystemExit("footdrop_outcomes was imported before forking: mutants would not be seen")
    for name, t in cfg["targets"].items():
        if a.target and name not in a.target:
            continue
        budget = 60 * (a.minutes if a.minutes is not None else t.get("minutes", 10))
        timeout = float(t.get("timeout", 120))
        extra = list(t.get("pytest_args", []))
        todo: list[tuple[ast.Module, Mutant]] = []
        for rel in t["files"]:
            tree, ms = mutants(root / rel, rel)
            todo += [(tree, m) for m in ms]
        random.Random(a.seed).shuffle(todo)
        start, counts, survivors = time.monotonic(), {"killed": 0, "survived": 0, "other": 0}, []
        base = _run_tests(root, t["tests"], extra, 10 * timeout)
        if base != "survived":
            print(f"[{name}] the tests do not pass on the unmutated code ({base}); skipped", flush=True)
            continue
        for tree, m in todo:
            if time.monotonic() - start > budget:
                break
            path = root / m.file
            original = path.read_text()
            try:
                path.write_text(_apply(tree, m.index))
                for pyc in (path.parent / "__pycache__").glob(path.stem + ".*.pyc"):
                    pyc.unlink()
                verdict = _run_tests(root, t["tests"], extra, timeout)
            finally:
                path.write_text(original)
            key = "killed" if verdict.startswith("killed") else ("survived" if verdict == "survived" else "other")
            counts[key] += 1
            if key == "survived":
                survivors.append(m)
                print(f"[{name}] SURVIVED {m.file}:{m.line}  {m.what}", flush=True)
            elif key == "other":
                print(f"[{name}] {verdict} {m.file}:{m.line}  {m.what}", flush=True)
        tried = counts["killed"] + counts["survived"]
        score = counts["killed"] / tried if tried else float("nan")
        print(f"[{name}] {len(todo)} mutants, {tried} tried in {(time.monotonic() - start) / 60:.1f} min: "
              f"{counts['killed']} killed, {counts['survived']} survived, {counts['other']} other; score {score:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
