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

__all__ = ["Missing", "MissingDataWarning", "drop_incomplete", "formula_variables"]

Missing = Literal["drop", "raise"]


class MissingDataWarning(FootdropWarning):
    """Rows with missing values in model variables were left out (a complete-case analysis)."""


def formula_variables(formula: str, outcome: str) -> list[str]:
    """Variables a right-hand-side formula needs; [] when it does not parse (the fit reports that)."""
    from formulaic import Formula

    try:
        return sorted(Formula(formula_rhs(formula, outcome=outcome)).required_variables)
    except Exception:  # noqa: BLE001 - parse errors are reported, with context, by the design builder
        return []


def drop_incomplete(frame: pd.DataFrame, variables: Sequence[str], *, missing: Missing, model: str,
                    table: str = "data", stacklevel: int = 3) -> tuple[pd.DataFrame, dict[str, Any]]:
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

    Returns
    -------
    (pandas.DataFrame, dict)
        The complete rows (original index kept) and ``{"n_input", "n_dropped_missing",
        "dropped_by_variable", "missing_data"}`` for the result's ``info``.
    """
    check_choice("missing", missing, get_args(Missing))
    cols = [v for v in dict.fromkeys(variables) if v in frame.columns]
    if missing == "raise":
        check_missing(frame, cols, table)
    miss = pd.isna(frame[cols]).to_numpy() if cols else np.zeros((len(frame), 0), dtype=bool)
    bad = miss.any(axis=1)
    by = {c: int(miss[:, j].sum()) for j, c in enumerate(cols) if miss[:, j].any()}
    n_drop = int(bad.sum())
    out = {"n_input": len(frame), "n_dropped_missing": n_drop, "dropped_by_variable": by,
           "missing_data": "complete-case: rows with a missing model variable left out" if n_drop else "none missing"}
    if not n_drop:
        return frame, out
    if n_drop == len(frame):
        raise FootdropError(f"{table}: every row has a missing value in the model variables ({', '.join(by)}); "
                            "nothing to fit. Impute them (footdrop_outcomes.imputation.impute) or drop those variables")
    parts = ", ".join(f"{c}: {k}" for c, k in by.items())
    warnings.warn(
        f"{model}: {n_drop} of {len(frame)} rows of {table} left out for missing values ({parts}); this is a complete-case "
        "analysis, biased unless data are missing completely at random. Consider footdrop_outcomes.imputation.impute",
        MissingDataWarning, stacklevel=stacklevel,
    )
    return frame.loc[~bad], out
