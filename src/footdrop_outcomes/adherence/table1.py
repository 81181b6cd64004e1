"""Table 1 moved to the cohort description: :mod:`footdrop_outcomes.cohort.table1`.

Re-exported here so that ``from footdrop_outcomes.adherence import table_one`` and
``footdrop_outcomes.adherence.table1.table_one`` keep working (same function, same result).
"""

from __future__ import annotations

from footdrop_outcomes.cohort.table1 import DEFAULT_COVARIATES, LABELS, Table1InputError, TableOne, table_one

__all__ = ["table_one", "TableOne", "DEFAULT_COVARIATES", "LABELS", "Table1InputError"]
