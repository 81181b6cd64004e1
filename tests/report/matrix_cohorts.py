"""Cohorts a real analyst meets, for the report test matrix (issue: the report survives real cohorts).

Used by ``tests/report/test_real_cohorts.py`` (a representative part, in the test run) and by
``benchmarks/report_matrix.py`` (every shipped notebook on every cohort, printed).

Each builder returns ``(cohort_dir, parameters)``: a saved cohort and the report parameters that
select what is analysed (``causes`` for a cause alone; a severity alone is a saved subset).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pypdf import PdfReader

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.cohort.vocabulary import CAUSES, SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "examples"

#: Text that must never reach a page: raw exception names, tracebacks, numbers that are not numbers.
RAW = re.compile(r"Traceback|Error\b|Exception\b|Warning:|\b(?:nan|NaN|inf)\b|array\(|dtype|\bNone\b")


def worked_example(root: Path) -> tuple[Path, dict[str, Any]]:
    """The README's worked example: the messy site extract imported through its mapping file."""
    from footdrop_outcomes.privacy import import_cohort

    out = root / "worked-example"
    if not out.exists():
        ext = EXAMPLES / "site_extract"
        import_cohort(EXAMPLES / "mapping_example.toml", patients=ext / "patients.csv", visits=ext / "visits.csv",
                      adherence=ext / "adherence.csv", out=out)
    return out, {}


def _base(root: Path, n: int = 400, seed: int = 11) -> Path:
    out = root / f"simulated-{n}-{seed}"
    if not out.exists():
        simulate_cohort(n, seed, progress=False).save(out)
    return out


def cause_alone(cause: str) -> Callable[[Path], tuple[Path, dict[str, Any]]]:
    """One cause, chosen by the report's ``causes`` parameter."""
    def build(root: Path) -> tuple[Path, dict[str, Any]]:
        return _base(root), {"causes": [cause]}
    build.__name__ = f"cause_{cause}"
    return build


def severity_alone(severity: str) -> Callable[[Path], tuple[Path, dict[str, Any]]]:
    """One severity at onset, as a saved subset (keeps the synthetic origin and truth)."""
    def build(root: Path) -> tuple[Path, dict[str, Any]]:
        from footdrop_outcomes import load_cohort

        out = root / f"severity-{severity}"
        if not out.exists():
            load_cohort(_base(root)).subset(severities=[severity], label=f"{severity} only").save(out)
        return out, {}
    build.__name__ = f"severity_{severity}"
    return build


def small(n: int) -> Callable[[Path], tuple[Path, dict[str, Any]]]:
    """A small cohort of ``n`` patients."""
    def build(root: Path) -> tuple[Path, dict[str, Any]]:
        return _base(root, n=n, seed=5), {}
    build.__name__ = f"n{n}"
    return build


def all_and_none(root: Path) -> tuple[Path, dict[str, Any]]:
    """Every peroneal-compression patient recovers (MRC 5 at the last visit) and no stroke patient
    does (MRC capped at 2): the lopsided groups that make the cure model's incidence not identifiable."""
    out = root / "all-and-none"
    if not out.exists():
        c = simulate_cohort(400, 13, progress=False)
        p, v = c.patients, c.visits.copy()
        cause = p.set_index("patient_id")["cause"].astype(str)
        vc = cause.reindex(v["patient_id"].astype(str)).to_numpy()
        mrc = v["mrc"].to_numpy().astype(float)
        stroke = vc == "stroke"
        mrc[stroke] = np.minimum(mrc[stroke], 2)
        last = ~v["patient_id"].astype(str).duplicated(keep="last").to_numpy()
        first = ~v["patient_id"].astype(str).duplicated(keep="first").to_numpy()
        peroneal_last = (vc == "peroneal_compression") & last & ~first
        mrc[peroneal_last] = 5
        v["mrc"] = mrc.astype(v["mrc"].dtype)
        Cohort(p, v, c.adherence, metadata=dict(c.metadata), truth=None).save(out)
    return out, {}


#: The matrix of the issue: worked example, each cause alone, each severity alone, 30 and 60
#: patients, one cause all recover and one never.
MATRIX: list[Callable[[Path], tuple[Path, dict[str, Any]]]] = [
    worked_example, *(cause_alone(c) for c in CAUSES), *(severity_alone(s) for s in SEVERITIES), small(30), small(60), all_and_none,
]


def pdf_text(path: Path) -> str:
    """The text of every page of a PDF."""
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def page_problems(text: str) -> list[str]:
    """What a reader must never see on a page: raw exception text, "nan"/"inf", a degraded
    section that does not say why, a range whose two ends are the same group."""
    out = [f"raw text on a page: {m.group(0)!r}" for m in RAW.finditer(text)]
    flat = " ".join(text.split())
    for m in re.finditer(r"\) could not be fitted(?!:)", flat):  # "<model> (<formula>) could not be fitted: <why>"
        out.append(f"a model that could not be fitted without a reason: {flat[max(0, m.start() - 60): m.end() + 20]!r}")
    for m in re.finditer(r"ranged from (\d+)% \(([^)]+)\) to (\d+)% \(([^)]+)\)", flat):
        if m.group(2) == m.group(4):
            out.append(f"a range over one group: {m.group(0)!r}")
    return out
