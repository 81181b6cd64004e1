"""Exceptions and warnings raised by footdrop-outcomes.

A shallow tree: one base class, a few specific subclasses. Messages name the table, column
and rows at fault, and say what to do next.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FootdropError", "CohortValidationError", "ConfigError", "CohortIOError", "ConvergenceError", "FootdropWarning"]


class FootdropError(Exception):
    """Base class of every error raised by footdrop-outcomes."""


class ConfigError(FootdropError, ValueError):
    """An option or configuration value is not allowed (names the option and the allowed values)."""


class ConvergenceError(FootdropError, RuntimeError):
    """A model fit did not converge (names the model and what to try)."""


class FootdropWarning(UserWarning):
    """Base of statistical caveats (small groups, fits that needed help, boundary estimates)."""


class CohortIOError(FootdropError, OSError):
    """A cohort could not be read or written (missing file, existing target, unreadable manifest)."""


class CohortValidationError(FootdropError, ValueError):
    """A cohort table breaks the schema.

    Attributes
    ----------
    failures : pandas.DataFrame
        One row per problem with columns ``table``, ``column``, ``problem``, ``rows`` (row
        numbers as counted in the source: 0-based positions for in-memory tables, line numbers
        for CSV files), ``patient_ids`` and ``n_rows``.
    source : str
        Where the tables came from (a directory, file names, or ``"in-memory tables"``).
    """

    def __init__(self, failures: pd.DataFrame, source: str):
        self.failures = failures.reset_index(drop=True)
        self.source = source
        super().__init__(self._format())

    def _format(self, max_items: int = 20) -> str:
        n = len(self.failures)
        lines = [f"cohort from {self.source} is not valid: {n} problem{'s' if n != 1 else ''}"]
        for rec in self.failures.head(max_items).itertuples(index=False):
            where = f"{rec.table}.{rec.column}" if rec.column else rec.table
            rows = f" (rows {rec.rows}" + (f"; patient_id {rec.patient_ids}" if rec.patient_ids else "") + ")"
            lines.append(f"  - {where}: {rec.problem}; {rec.n_rows} row{'s' if rec.n_rows != 1 else ''}{rows}")
        if n > max_items:
            lines.append(f"  ... and {n - max_items} more (see the exception's .failures table)")
        lines.append("Nothing was loaded. Fix the rows named above, then load again.")
        return "\n".join(lines)
