"""Complete-case selection that says what it dropped: rows with a missing model variable are left
out with a :class:`MissingDataWarning` and counted in the result's ``info``, never silently.

``missing="raise"`` keeps the strict behaviour (an error naming the column and rows).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import check_choice, check_missing, formula_rhs
from footdrop_outcomes.errors import FootdropError, FootdropWarning

__all__ = ["Missing", "MissingDataWarning", "drop_incomplete", "formula_variables", "missing_mask"]

Missing = Literal["drop", "raise"]


class MissingDataWarning(FootdropWarning):
    """Rows with missing values in model variables were left out (a complete-case analysis)."""


def formula_variables(formula: str, outcome: str) -> list[str]:
    """Variables a right-hand-side formula needs; [] when it does not parse (the fit reports that).

    The parse is kept per formula text (:func:`footdrop_outcomes.survival._design.rhs_variables`).
    """
    # imported here: _design imports this module
    from footdrop_outcomes.survival._design import rhs_variables

    try:
        return list(rhs_variables(formula_rhs(formula, outcome=outcome)))
    except Exception:  # noqa: BLE001 - parse errors are reported, with context, by the design builder
        return []


def missing_mask(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """``pd.isna(frame[cols]).to_numpy()`` (rows x columns), without copying the columns into a new frame.

    numpy integer and boolean columns hold no missing value, a float column's are its NaNs, a
    categorical's its code -1; other columns go through ``pd.isna``.
    """
    if frame.columns.has_duplicates:  # a name may stand for several columns: pandas' own answer
        return pd.isna(frame[list(cols)]).to_numpy() if len(cols) else np.zeros((len(frame), 0), dtype=bool)
    out = np.zeros((len(frame), len(cols)), dtype=bool)
    for j, c in enumerate(cols):
        s = frame[c]
        dt = s.dtype
        if isinstance(dt, np.dtype) and dt.kind in "biu":
            continue
        if isinstance(dt, np.dtype) and dt.kind == "f":
            out[:, j] = np.isnan(s.to_numpy())
        elif isinstance(dt, pd.CategoricalDtype):
            out[:, j] = s.cat.codes.to_numpy() < 0
        else:
            out[:, j] = pd.isna(s).to_numpy()
    return out


def drop_incomplete(frame: pd.DataFrame, variables: Sequence[str], *, missing: Missing, model: str,
                    table: str = "data", stacklevel: int = 3, group_col: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of ``frame`` complete in ``variables`` (those present), and what was dropped.

    Parameters
    ----------
    frame : pandas.DataFrame
    variables : sequence of str
        Model variables (absent columns are skipped: the fit reports them).
    missing : {"drop", "raise"}
        ``"drop"``: leave incomplete rows out with a :class:`MissingDataWarning`;
        ``"raise"``: a :class:`~footdrop_outcomes.errors.FootdropError` naming column and rows.
    model : str
        Name of the fitting function, for the warning.
    table : str
        Name of ``frame`` in messages.
    stacklevel : int
        Of the warning (3: the caller of the fitting function).
    group_col : str, optional
        For long data (one row per visit or week): the patient column. The warning and ``info``
        then also count patients: ``n_patients_input``, ``n_patients_with_dropped_rows`` (a
        missing value in at least one of their rows) and ``n_patients_dropped`` (no row left).

    Returns
    -------
    (pandas.DataFrame, dict)
        The complete rows (original index kept) and ``{"n_input", "n_dropped_missing",
        "dropped_by_variable", "missing_data"}`` (plus the patient counts) for the result's ``info``.

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> d = pd.DataFrame({"pid": [1, 1, 2, 3], "x": [1.0, None, 2.0, None]})
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     kept, info = drop_incomplete(d, ["x"], missing="drop", model="demo", group_col="pid")
    >>> len(kept), info["n_dropped_missing"], info["n_patients_with_dropped_rows"], info["n_patients_dropped"]
    (2, 2, 2, 1)
    >>> str(w[0].message).split(";")[0]
    'demo: 2 of 4 rows of data (from 2 of 3 patients, 1 of them with no row left) left out for missing values (x: 2)'
    """
    check_choice("missing", missing, get_args(Missing))
    cols = [v for v in dict.fromkeys(variables) if v in frame.columns]
    if missing == "raise":
        check_missing(frame, cols, table)
    miss = missing_mask(frame, cols)
    bad = miss.any(axis=1)
    by = {c: int(miss[:, j].sum()) for j, c in enumerate(cols) if miss[:, j].any()}
    n_drop = int(bad.sum())
    out = {"n_input": len(frame), "n_dropped_missing": n_drop, "dropped_by_variable": by,
           "missing_data": "complete-case: rows with a missing model variable left out" if n_drop else "none missing"}
    patients = ""
    if group_col is not None and group_col in frame.columns:
        codes, uniques = pd.factorize(frame[group_col], use_na_sentinel=True)
        n_groups = len(uniques)
        hit = np.bincount(codes[bad & (codes >= 0)], minlength=n_groups) > 0
        left = np.bincount(codes[~bad & (codes >= 0)], minlength=n_groups) > 0
        out.update({"n_patients_input": int(n_groups), "n_patients_with_dropped_rows": int(hit.sum()),
                    "n_patients_dropped": int((~left).sum())})
        lost = int((~left).sum())
        patients = f" (from {int(hit.sum())} of {n_groups} patients, {lost} of them with no row left)"
    if not n_drop:
        return frame, out
    if n_drop == len(frame):
        raise FootdropError(f"{table}: every row has a missing value in the model variables ({', '.join(by)}); "
                            "nothing to fit. Impute them (footdrop_outcomes.imputation.impute) or drop those variables")
    parts = ", ".join(f"{c}: {k}" for c, k in by.items())
    warnings.warn(
        f"{model}: {n_drop} of {len(frame)} rows of {table}{patients} left out for missing values ({parts}); this is a complete-case "
        "analysis, biased unless data are missing completely at random. Consider footdrop_outcomes.imputation.impute",
        MissingDataWarning, stacklevel=stacklevel,
    )
    return frame.loc[~bad], out
