"""A privacy refusal names every location its failures table holds (issue 21; survivor
``guard/_scanner.py:45`` of the mutation run at ba5ded3: ``table or column`` -> ``and`` printed a
finding with a column but no table as ``file: problem``, dropping the column's name).

Today the only such finding is a mapping's ``description`` (whose problem text repeats the
word, so the mutant lost nothing there); the test builds the failures table directly so that
the rule holds for any finding: each line names the file, and the table and the column whenever
they are given.
"""

from __future__ import annotations

import pandas as pd
import pytest

from footdrop_outcomes.guard import PrivacyError

LOCATIONS = [("patients", "notes"), ("", "notes"), ("patients", ""), ("", "")]


def _error() -> PrivacyError:
    rows = [{"file": f"extract_{i}.csv", "table": t, "column": c, "problem": "values look like e-mail addresses",
             "rows": "2, 5", "patient_ids": "", "n_rows": 2} for i, (t, c) in enumerate(LOCATIONS)]
    return PrivacyError(pd.DataFrame(rows), "test extract")


@pytest.mark.parametrize("i", range(len(LOCATIONS)))
def test_each_refusal_line_names_the_file_table_and_column_it_has(i):
    table, column = LOCATIONS[i]
    lines = [line for line in str(_error()).splitlines() if f"extract_{i}.csv" in line]
    assert len(lines) == 1
    line = lines[0]
    assert "e-mail" in line
    if column:
        assert column in line
    if table:
        assert table in line

