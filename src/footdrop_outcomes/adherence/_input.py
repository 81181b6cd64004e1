"""Checks and shared helpers for the adherence layer (private).

Every public function takes either a :class:`~footdrop_outcomes.cohort.cohort.Cohort` (whose
tables are already validated) or plain DataFrames (``adherence`` and, optionally, ``patients``)
that may break the data model. Problems are reported with :class:`AdherenceInputError`, whose
message names the table, the column, the rows (0-based positions) and the patient ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import check_choice  # noqa: F401 - re-exported to the adherence modules
from footdrop_outcomes.cohort.vocabulary import EXERCISES
from footdrop_outcomes.errors import FootdropError

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["AdherenceInputError", "check_choice", "split_input", "rows_text", "EXERCISE_COLUMNS"]

EXERCISE_COLUMNS: tuple[str, ...] = tuple(f"{s}_{k}" for s in EXERCISES for k in ("prescribed", "completed"))


class AdherenceInputError(FootdropError, ValueError):
    """An adherence or patients table cannot be analysed as given.

    The message names the table, the column and the rows (0-based positions in the table as
    passed) -- never a value or a patient id -- and says which option handles the case instead
    of raising.
    """


def rows_text(df: pd.DataFrame, positions: np.ndarray, max_items: int = 8) -> str:
    """``2 rows: 3, 7``, shortened after ``max_items``: row positions only, never patient keys (issue 12)."""
    positions = np.asarray(positions, dtype=np.int64)
    more = ", ..." if positions.size > max_items else ""
    rows = ", ".join(map(str, positions[:max_items])) + more
    return f"{positions.size} row{'s' if positions.size != 1 else ''}: {rows}"


def split_input(data: Cohort | pd.DataFrame, patients: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The adherence table and the patients table (if any) of a cohort or of plain frames."""
    if isinstance(data, pd.DataFrame):
        return data, patients
    from footdrop_outcomes.cohort.cohort import Cohort

    if isinstance(data, Cohort):
        return data.adherence, patients if patients is not None else data.patients
    raise FootdropError(f"expected a Cohort or the adherence table as a pandas DataFrame, got {type(data).__name__}")
