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

* a target may name ``functions``: only sites inside those functions (at any depth) are mutated
  (e.g. the counting parts of ``report/tables.py``);
* a target may set ``sample`` (or ``--sample N``): a sample of N mutants stratified by operator
  kind (comparison, arithmetic, boolean, ``not``, constant, ``return``): each kind gets its share
  of N in proportion to its count (largest remainders, at least one per kind present), drawn at
  random with ``--seed``; without it every mutant is tried in a seeded random order until the
  time box ends (then the tried ones are a random sample).

Usage (from the shared checkout; the worktree needs an install of itself)::

    git worktree add --detach /tmp/mut HEAD
    python3 -m venv /tmp/mut/.venv && /tmp/mut/.venv/bin/pip install -e "/tmp/mut[test]"
    nice -n 10 /tmp/mut/.venv/bin/python benchmarks/mutation/mutate.py --root /tmp/mut \
        --config benchmarks/mutation/config.toml [--target cox] [--minutes 20] [--sample 40] \
        [--json out.json]

Prints one line per surviving mutant (file:line, what changed, the source line) and, per target,
mutants generated / run / killed / survived / timed out and the score (killed + timed out over
run). ``--json`` writes every verdict (for docs/testing.md).
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import json
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
    kind: str = ""  # operator kind: compare, arith, bool, not, constant, return
    function: str = ""  # innermost enclosing function ("" at module level)


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


def _kind(what: str) -> str:
    if what == "return None":
        return "return"
    if what == "not dropped":
        return "not"
    if what.startswith(("Lt ", "LtE ", "Gt ", "GtE ", "Eq ", "NotEq ")):
        return "compare"
    if what.startswith(("Add ", "Sub ", "Mult ", "Div ")):
        return "arith"
    if what.startswith(("And ", "Or ")):
        return "bool"
    return "constant"


def _enclosing(tree: ast.AST) -> dict[int, str]:
    """id(node) -> innermost enclosing function name, for every node inside a function."""
    owner: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else name
            owner[id(child)] = inner
            visit(child, inner)

    visit(tree, "")
    return owner


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


def mutants(path: Path, rel: str, functions: list[str] | None = None) -> tuple[ast.Module, list[Mutant]]:
    """Every mutant of one file (only inside ``functions``, at any depth, when given)."""
    tree = ast.parse(path.read_text())
    owner = _enclosing(tree)
    parents: dict[str, set[str]] = {}  # function -> the functions it is nested in (and itself)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    parents.setdefault(inner.name, set()).add(node.name)
    out = []
    for k, (n, w) in enumerate(_sites(tree)):
        fn = owner.get(id(n), "")
        if functions is not None and not (parents.get(fn, set()) & set(functions)):
            continue
        out.append(Mutant(rel, k, getattr(n, "lineno", 0), w, _kind(w), fn))
    return tree, out


def stratified(todo: list, n: int, seed: int) -> list:
    """A random sample of ``n`` of ``todo`` (pairs (tree, Mutant)) stratified by operator kind:
    shares proportional to each kind's count (largest remainders), at least one per kind."""
    if n >= len(todo):
        return list(todo)
    rng = random.Random(seed)
    by: dict[str, list] = {}
    for item in todo:
        by.setdefault(item[1].kind, []).append(item)
    kinds = sorted(by)
    quota = {k: max(1, int(n * len(by[k]) / len(todo))) for k in kinds}
    rest = sorted(kinds, key=lambda k: -(n * len(by[k]) / len(todo) - int(n * len(by[k]) / len(todo))))
    i = 0
    while sum(quota.values()) < n and i < 10 * len(kinds):
        k = rest[i % len(rest)]
        if quota[k] < len(by[k]):
            quota[k] += 1
        i += 1
    out = [item for k in kinds for item in rng.sample(by[k], min(quota[k], len(by[k])))]
    rng.shuffle(out)
    return out


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
    try:
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
    except BaseException:  # the run was stopped: stop the child too
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="AST mutation testing (see module docstring)")
    ap.add_argument("--root", type=Path, required=True, help="git worktree to mutate (never the shared checkout)")
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("config.toml"))
    ap.add_argument("--target", action="append", default=None, help="target name(s) from the config (default all)")
    ap.add_argument("--minutes", type=float, default=None, help="time box per target (overrides the config)")
    ap.add_argument("--seed", type=int, default=1, help="order in which mutants are tried (time box reached: a random subset)")
    ap.add_argument("--sample", type=int, default=None, help="stratified sample of N mutants per target (overrides the config)")
    ap.add_argument("--json", type=Path, default=None, help="write every verdict to this file (JSON)")
    ap.add_argument("--only", action="append", default=None,
                    help="re-run only the mutants whose 'file:line what' contains this text (e.g. 'suppression.py:343 1 -> 2')")
    ap.add_argument("--tests", nargs="+", default=None, help="run these tests instead of the target's (e.g. a new test file)")
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
    spec = importlib.util.find_spec("footdrop_outcomes")  # finds, does not import
    if spec is None or spec.origin is None or not Path(spec.origin).resolve().is_relative_to(root / "src"):
        raise SystemExit(f"footdrop_outcomes resolves to {spec and spec.origin}, not under {root / 'src'}: "
                         "install the worktree into this venv or set PYTHONPATH=<root>/src")
    results: dict[str, dict] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still restores the mutated file (finally)
    for name, t in cfg["targets"].items():
        if a.target and name not in a.target:
            continue
        budget = 60 * (a.minutes if a.minutes is not None else t.get("minutes", 10))
        timeout = float(t.get("timeout", 120))
        extra = list(t.get("pytest_args", []))
        todo: list[tuple[ast.Module, Mutant]] = []
        functions = t.get("functions")
        for rel in t["files"]:
            tree, ms = mutants(root / rel, rel, functions)
            todo += [(tree, m) for m in ms]
        generated = len(todo)
        random.Random(a.seed).shuffle(todo)
        n_sample = a.sample if a.sample is not None else t.get("sample")
        if a.only:
            todo = [(tr, m) for tr, m in todo if any(o in f"{m.file}:{m.line} {m.what}" for o in a.only)]
        elif n_sample is not None:
            todo = stratified(todo, int(n_sample), a.seed)
        if a.tests:
            t = {**t, "tests": a.tests}
        start = time.monotonic()
        counts = {"killed": 0, "timeout": 0, "survived": 0, "other": 0}
        verdicts: list[dict] = []
        c0 = os.times()
        base = _run_tests(root, t["tests"], extra, 10 * timeout)
        base_s = time.monotonic() - start
        if base != "survived":
            print(f"[{name}] the tests do not pass on the unmutated code ({base}); skipped", flush=True)
            continue
        # a busy machine slows every run: a mutant is timed out only well past the unmutated time
        timeout = max(timeout, 3.0 * base_s)
        print(f"[{name}] {generated} mutants generated, {len(todo)} to run; unmutated tests pass in {base_s:.0f} s "
              f"(per-mutant timeout {timeout:.0f} s)", flush=True)
        for tree, m in todo:
            if time.monotonic() - start > budget:
                break
            path = root / m.file
            original = path.read_text()
            t0 = time.monotonic()
            try:
                path.write_text(_apply(tree, m.index))
                for pyc in (path.parent / "__pycache__").glob(path.stem + ".*.pyc"):
                    pyc.unlink()
                verdict = _run_tests(root, t["tests"], extra, timeout)
            finally:
                path.write_text(original)
            key = ("timeout" if "timeout" in verdict else "killed") if verdict.startswith("killed") else (
                "survived" if verdict == "survived" else "other")
            counts[key] += 1
            src_line = original.splitlines()[m.line - 1].strip() if m.line else ""
            verdicts.append({"file": m.file, "line": m.line, "function": m.function, "kind": m.kind, "what": m.what,
                             "source": src_line, "verdict": key, "seconds": round(time.monotonic() - t0, 1)})
            if key == "survived":
                print(f"[{name}] SURVIVED {m.file}:{m.line} ({m.function})  {m.what}  | {src_line}", flush=True)
            elif key == "other":
                print(f"[{name}] {verdict} {m.file}:{m.line}  {m.what}", flush=True)
        c1 = os.times()
        run = counts["killed"] + counts["timeout"] + counts["survived"]
        score = (counts["killed"] + counts["timeout"]) / run if run else float("nan")
        cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        wall = time.monotonic() - start
        print(f"[{name}] {generated} generated, {len(todo)} selected, {run} run in {wall / 60:.1f} min "
              f"(children CPU {cpu / 60:.1f} min; load {os.getloadavg()[0]:.1f}): {counts['killed']} killed, "
              f"{counts['timeout']} timed out, {counts['survived']} survived, {counts['other']} other; "
              f"score {score:.2f}", flush=True)
        results[name] = {"files": t["files"], "functions": functions, "tests": t["tests"], "pytest_args": extra,
                         "generated": generated, "selected": len(todo), "run": run, **counts, "score": score,
                         "seed": a.seed, "sample": n_sample, "wall_s": round(wall), "children_cpu_s": round(cpu),
                         "baseline_s": round(base_s, 1), "verdicts": verdicts}
        if a.json is not None:  # after every target, so a stopped run keeps what it did
            tmp = a.json.with_suffix(a.json.suffix + ".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
