"""Exceptions and warnings raised by footdrop-outcomes.

A shallow tree: one base class, a few specific subclasses. Messages name the table, column
and rows at fault, and say what to do next.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["FootdropError", "CohortValidationError", "ConfigError", "CohortIOError", "ConvergenceError", "FootdropWarning",
           "Interrupted", "safe_column_name", "safe_columns"]


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


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT or SIGTERM) and cleaned up after itself.

    A subclass of :class:`KeyboardInterrupt`, not of :class:`FootdropError`: code that catches
    errors (``except Exception``) never swallows it, and every ``finally`` block runs. The command
    line raises it from its SIGTERM handler; Ctrl-C raises a plain :class:`KeyboardInterrupt`.

    Attributes
    ----------
    signal_name : str
        ``"SIGTERM"`` or ``"SIGINT"``.
    """

    def __init__(self, signal_name: str = "SIGTERM"):
        self.signal_name = signal_name
        super().__init__(f"interrupted by {signal_name}")


# a column name is shown in messages only when it reads like a column name: a letter first, then
# letters, digits, spaces and a little punctuation, no run of 4+ digits (a year, a record number, a
# phone), no '@' -- a header line that is really a data row (a file without a header) stays unseen
_SHOWABLE_NAME = re.compile(r"[^\W\d][\w .()%/+-]{0,47}")
_LONG_DIGITS = re.compile(r"\d{4}")
_PLACEHOLDER = re.compile(r"<column \d+>|<a column whose name is not shown>")


def safe_columns(text: object) -> str:
    """:func:`safe_column_name` applied to each name of a ``"a, b"`` list (a failures table's ``column`` cell)."""
    return ", ".join(safe_column_name(part) for part in str(text).split(", ")) if str(text) else ""


def safe_column_name(name: object, position: int | None = None) -> str:
    """A column name as it may appear in a message, or a placeholder that shows no value.

    Column names of the data model and ordinary headers are shown as they are. A name that
    could be a value (digits first, a run of four digits, an ``@``, very long, control
    characters) is replaced by ``"<column N>"`` (1-based position in the file) or
    ``"<a column whose name is not shown>"``.

    Parameters
    ----------
    name : object
        The column name (a file's header cell).
    position : int, optional
        0-based position of the column in its file.

    Examples
    --------
    >>> safe_column_name("gait_speed")
    'gait_speed'
    >>> safe_column_name("1957-03-02", 4)
    '<column 5>'
    """
    text = str(name)
    if (_SHOWABLE_NAME.fullmatch(text) and not _LONG_DIGITS.search(text)) or _PLACEHOLDER.fullmatch(text):
        return text
    return f"<column {position + 1}>" if position is not None else "<a column whose name is not shown>"


class CohortValidationError(FootdropError, ValueError):
    """A cohort table breaks the schema.

    Attributes
    ----------
    failures : pandas.DataFrame
        One row per problem with columns ``table``, ``column``, ``problem``, ``rows`` (row
        numbers as counted in the source: 0-based positions for in-memory tables, line numbers
        for CSV files) and ``n_rows``. No value of the data appears in it, nor in the message:
        not even patient ids (row numbers say where to look).
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
            where = f"{rec.table}.{safe_columns(rec.column)}" if rec.column else rec.table
            rows = f" (rows {rec.rows})"
            lines.append(f"  - {where}: {rec.problem}; {rec.n_rows} row{'s' if rec.n_rows != 1 else ''}{rows}")
        if n > max_items:
            lines.append(f"  ... and {n - max_items} more (see the exception's .failures table)")
        lines.append("Nothing was loaded. Fix the rows named above, then load again.")
        return "\n".join(lines)
