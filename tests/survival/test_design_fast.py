"""The direct design-matrix path (``survival._design._fast_matrix``) against formulaic's.

Every survival model builds its design through ``_build_design``. Plain formulas (main effects of numeric, boolean
and categorical or text columns, products of numeric columns, with an intercept) are built directly; everything
else by formulaic. Here each design is built both ways on the same data (formulaic's by switching the direct path
off) and must agree exactly: the matrix (values, shape, dtype, memory order), the term names and their order, the
variables, the levels with the reference first and where the reference came from, the errors (type and message),
formulaic's ``ModelSpec`` (made lazily for a direct design) and the design applied to new rows.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.survival import _design
from footdrop_outcomes.survival.cox import fit_cox

CAUSES = ["stroke", "compression", "neuropathy", "radiculopathy", "unused_level"]  # not sorted, one never used


def _frame(seed: int, n: int = 60) -> pd.DataFrame:
    """Columns of every type a formula may name; index labels shuffled and not 0..n-1."""
    rng = np.random.default_rng(seed)
    cause = rng.choice(CAUSES[:4], size=n)
    text = rng.choice(["b", "a", "c"], size=n)
    out = pd.DataFrame({
        "age": rng.normal(55, 12, size=n),
        "count": rng.integers(0, 9, size=n),
        "small": rng.integers(0, 4, size=n).astype(np.uint8),
        "flag": rng.random(n) < 0.4,
        "cause": pd.Categorical(cause, categories=CAUSES),
        "one_level": pd.Categorical(np.repeat("only", n), categories=["never", "only"]),
        "text": text.astype(object),
        "numtext": rng.choice(["10", "2", "3"], size=n).astype(object),  # numeric-looking: sorted as text
        "strdtype": pd.array(rng.choice(["x", "y"], size=n), dtype="string"),
        "objint": pd.Series(rng.choice([3, 1, 2], size=n), dtype=object),
        "intcat": pd.Categorical(rng.choice([20, 10, 30], size=n), categories=[30, 10, 20]),
        "boolobj": pd.Series(rng.random(n) < 0.5, dtype=object),
        "nullable": pd.array(rng.integers(0, 5, size=n), dtype="Int64"),
        "boolean": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "f32": rng.normal(size=n).astype(np.float32),
        "i8": rng.integers(-3, 3, size=n).astype(np.int8),
        "time": rng.exponential(10, size=n) + 0.1,
        "event": rng.random(n) < 0.7,
    })
    out.index = rng.permutation(n) * 3 + 7
    return out


PLAIN = [
    "age", "1", "age + count", "count + age", "cause", "cause + age", "age + cause", "flag", "small + flag",
    "text", "numtext", "strdtype", "objint", "intcat", "boolobj", "one_level + age", "cause + text + numtext + flag",
    "age + age", "age:count", "count:age + age", "age + count + age:count", "age:count:small", "1 + cause",
    "cause + flag",
    "`age` + cause", "intcat + objint + strdtype + boolobj", "f32 + i8 + cause", "f32:age + i8:flag",
]
FALLBACK = ["np.log(age)", "C(count)", "cause:age", "cause*flag", "0 + cause", "age - 1", "text:numtext",
            "nullable", "boolean", "age + {age ** 2}", "cause + age | flag"]
REFERENCES = [None, {"cause": "neuropathy"}, {"text": "c", "numtext": "3"}, {"intcat": 20}, {"objint": 2}]


def _build(frame: pd.DataFrame, formula: str, reference: dict | None, direct: bool,
           monkeypatch: pytest.MonkeyPatch) -> tuple:
    with monkeypatch.context() as m:
        if not direct:
            m.setattr(_design, "_fast_matrix", lambda *a, **k: None)
        try:
            d, x = _design._build_design(frame, formula, "formula", "data", reference)
        except Exception as exc:  # noqa: BLE001 - the two paths must raise the same
            return None, None, (type(exc), str(exc))
        return d, x, None


def _same(frame: pd.DataFrame, formula: str, reference: dict | None, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both paths give the same design (or the same error); returns whether the direct path was taken."""
    taken = []
    real = _design._fast_matrix

    def spy(*a, **k):
        out = real(*a, **k)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(_design, "_fast_matrix", spy)
    fd, fx, ferr = _build(frame, formula, reference, True, monkeypatch)
    sd, sx, serr = _build(frame, formula, reference, False, monkeypatch)
    monkeypatch.setattr(_design, "_fast_matrix", real)
    assert ferr == serr, (formula, reference)
    if ferr is not None:
        return bool(taken and taken[0])
    assert fx.dtype == sx.dtype and fx.shape == sx.shape, formula
    assert fx.flags["C_CONTIGUOUS"] == sx.flags["C_CONTIGUOUS"], formula
    assert np.array_equal(fx, sx), formula
    assert fd.terms == sd.terms, formula
    assert fd.variables == sd.variables and fd.formula == sd.formula
    assert fd.levels.keys() == sd.levels.keys()
    for v in fd.levels:
        assert fd.levels[v] == sd.levels[v] and [type(a) for a in fd.levels[v]] == [type(a) for a in sd.levels[v]], v
    assert fd.references == sd.references
    assert fd.spec.column_names == sd.spec.column_names, formula
    assert fd.spec.structure == sd.spec.structure and fd.spec.encoder_state == sd.spec.encoder_state, formula
    assert fd.spec.transform_state == sd.spec.transform_state
    new = frame.iloc[::-2]  # the fitted design applied to other rows (predictions)
    assert np.array_equal(fd.matrix(new), sd.matrix(new)), formula
    return bool(taken and taken[0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plain_formulas_are_built_directly_and_equal_formulaics(seed, monkeypatch):
    frame = _frame(seed)
    for formula in PLAIN:
        for reference in REFERENCES:
            names = set(re.findall(r"[A-Za-z_]+", formula))
            ref = {k: v for k, v in (reference or {}).items() if k in names} or None
            assert _same(frame, formula, ref, monkeypatch), (formula, ref)  # taken, and equal


@pytest.mark.parametrize("seed", [1, 2])
def test_other_formulas_fall_back_to_formulaic(seed, monkeypatch):
    frame = _frame(seed)
    for formula in FALLBACK:
        assert not _same(frame, formula, None, monkeypatch), formula


def test_row_subsets_and_level_orders(monkeypatch):
    """Unused levels (a level used only in rows left out), a reference given for a reordered categorical, few rows."""
    base = _frame(4, n=200)
    for rows in (slice(0, 5), slice(0, 1), base["cause"].to_numpy() != "stroke", base["text"].to_numpy() == "b"):
        frame = base.loc[rows] if isinstance(rows, np.ndarray) else base.iloc[rows]
        for formula in ("cause + text + age", "intcat + flag", "numtext + count:age"):
            _same(frame, formula, None, monkeypatch)
    reordered = base.assign(cause=base["cause"].cat.reorder_categories(CAUSES[::-1]))
    for reference in (None, {"cause": "stroke"}):
        assert _same(reordered, "cause + age", reference, monkeypatch)


def test_errors_are_the_same(monkeypatch):
    """Missing values, absent columns, unknown reference levels, collinear and zero columns: same error both ways."""
    frame = _frame(5)
    frame.loc[frame.index[3], "age"] = np.nan
    frame.loc[frame.index[7], "text"] = None
    frame = frame.assign(age2=2 * frame["count"], zero=0.0, inf=np.where(np.arange(len(frame)) == 2, np.inf, 1.5))
    cases = [("age", None), ("text + count", None), ("nothere + age", None), ("cause", {"cause": "nope"}),
             ("count", {"count": 1}), ("count + age2", None), ("zero + count", None), ("inf + count", None),
             ("cause + flag", {"flag": True}), ("count + cause", {"elsewhere": "x"})]
    for formula, reference in cases:
        _same(frame, formula, reference, monkeypatch)
    with pytest.raises(FootdropError, match="collinear"):
        _design._build_design(frame, "count + age2", "formula", "data")


def test_a_direct_design_pickles_and_its_spec_is_made_on_first_use():
    frame = _frame(6)
    d, _ = _design._build_design(frame, "cause + text + age", "formula", "data")
    assert d.spec_ is None and d.sample is not None
    back = pickle.loads(pickle.dumps(d))
    assert list(back.spec.column_names) == ["Intercept", *(f"cause[T.{c}]" for c in CAUSES[1:4]), "text[T.b]",
                                            "text[T.c]", "age"]
    assert d.spec_ is None  # reading the copy's spec left the original alone
    assert np.array_equal(back.matrix(frame), d.matrix(frame))


def test_cox_fits_are_identical_either_way(monkeypatch):
    """The whole fit (every number of the summary and info) does not depend on the path."""
    frame = _frame(7, n=300)
    direct = fit_cox(frame, "cause + text + age + flag + numtext")
    monkeypatch.setattr(_design, "_fast_matrix", lambda *a, **k: None)
    slow = fit_cox(frame, "cause + text + age + flag + numtext")
    pd.testing.assert_frame_equal(direct.summary, slow.summary, check_exact=True)
    assert direct.log_likelihood == slow.log_likelihood and direct.concordance == slow.concordance
    assert direct.info["reference_levels"] == slow.info["reference_levels"]
    assert list(direct.design.spec.column_names) == list(slow.design.spec.column_names)
