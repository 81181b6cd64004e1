"""No value of the data appears in any error message, failures table or command-line output.

Each case spoils a cohort or an extract with a unique sentinel (text or number) in a different
place; the sentinel must never come back in ``str(exception)``, the ``failures`` table, or the
CLI's stdout/stderr. Rows, tables and columns are named instead.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from footdrop_outcomes.cli import app
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.cohort.schema import validate_tables
from footdrop_outcomes.errors import CohortValidationError, FootdropError, safe_column_name, safe_columns
from footdrop_outcomes.privacy import import_cohort

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples"
runner = CliRunner()

TEXT = "Qzxv Sentinelle"   # a text value nobody else would write
NUMBER = 987654            # a number (an Excel serial, a record number, a birth date as digits)
FLOAT = 98765.4321
NEEDLES = ("qzxv", "sentinelle", "987654", "98765", "1957-03-02", "02/03/1957", "45123", "zqx0417")


def _assert_clean(*texts: object) -> None:
    for text in texts:
        low = str(text).lower()
        for needle in NEEDLES:
            assert needle not in low, f"{needle!r} leaked into: {str(text)[:2000]}"


def _tables(cohort) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in cohort.tables().items():
        df = df.copy()
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype) or str(df[col].dtype) in ("string", "bool"):
                df[col] = df[col].astype(object)
        out[name] = df
    return out


def _spoil(t: dict[str, pd.DataFrame], case: str, pid: pd.Series) -> None:
    p, v, a = t["patients"], t["visits"], t["adherence"]
    for df in (p, v, a):
        for col in df.columns:
            df[col] = df[col].astype(object)
    if case == "text in int column":
        p.loc[3, "age"] = TEXT
    elif case == "number out of range":
        p.loc[3, "age"] = NUMBER
    elif case == "excel serial in days column":
        p.loc[4, "days_to_treatment"] = 45123
    elif case == "date in days column":
        v.loc[2, "day"] = "1957-03-02"
    elif case == "other date spelling":
        p.loc[2, "followup_days"] = "02/03/1957"
    elif case == "float out of range":
        p.loc[5, "bmi"] = FLOAT
    elif case == "unknown category":
        p.loc[7, "cause"] = TEXT
    elif case == "not a yes/no":
        p.loc[1, "diabetes"] = TEXT
    elif case == "long site":
        p.loc[1, "site"] = (TEXT + " ") * 6
    elif case == "sentinel id with a bad row":
        old = p.loc[3, "patient_id"]
        p.loc[3, "patient_id"] = "ZQX0417"
        v.loc[v["patient_id"] == old, "patient_id"] = "ZQX0417"
        a.loc[a["patient_id"] == old, "patient_id"] = "ZQX0417"
        p.loc[3, "age"] = 5
    elif case == "visit of unknown sentinel patient":
        v.loc[0, "patient_id"] = "ZQX0417"
    elif case == "duplicate sentinel key":
        p.loc[[1, 2], "patient_id"] = "ZQX0417"
    elif case == "header that is a value":
        p[str(NUMBER)] = 1
    elif case == "header that is a date":
        p["1957-03-02"] = 1
    elif case == "sessions above prescribed":
        col = [c for c in a.columns if c.endswith("_completed")][0]
        a.loc[0, col] = 27
        a.loc[0, col.replace("_completed", "_prescribed")] = 26
        a.loc[0, col] = NUMBER
    else:  # pragma: no cover
        raise AssertionError(case)


CASES = ["text in int column", "number out of range", "excel serial in days column", "date in days column",
         "other date spelling", "float out of range", "unknown category", "not a yes/no", "long site",
         "sentinel id with a bad row", "visit of unknown sentinel patient", "duplicate sentinel key",
         "header that is a value", "header that is a date", "sessions above prescribed"]


@pytest.mark.parametrize("case", CASES)
def test_schema_errors_show_no_value(small_cohort, case):
    t = _tables(small_cohort)
    _spoil(t, case, small_cohort.patients["patient_id"])
    with pytest.raises(CohortValidationError) as e:
        validate_tables(t)
    assert len(e.value.failures) >= 1
    _assert_clean(str(e.value), e.value.failures.to_csv(), _print_failures_text(e.value))
    assert "patient_ids" not in e.value.failures.columns


# the privacy guard runs before the schema in Cohort() and `validate`; a whole run per case would
# be slow, so the cases are spoiled together (the schema collects every problem of a table)
GROUPS = {"schema": [c for c in CASES if "date" not in c and "serial" not in c],
          "dates": [c for c in CASES if "date" in c or "serial" in c]}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_cohort_constructor_and_csv_validate_show_no_value(small_cohort, tmp_path, group):
    """The spoiled tables through Cohort() (privacy guard + schema) and through `validate` on CSV files."""
    t = _tables(small_cohort)
    for case in GROUPS[group]:
        _spoil(t, case, small_cohort.patients["patient_id"])
    with pytest.raises(FootdropError) as e:
        Cohort(**t)
    _assert_clean(str(e.value), getattr(e.value, "failures", pd.DataFrame()).to_csv())
    paths = {}
    for name, df in t.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    result = runner.invoke(app, ["validate", "--patients", str(paths["patients"]), "--visits", str(paths["visits"]),
                                 "--adherence", str(paths["adherence"])])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    _assert_clean(result.output)


def _print_failures_text(e: CohortValidationError) -> str:
    """What the CLI prints for these failures (the function `validate` and `import` use)."""
    from footdrop_outcomes import cli

    with cli.out.capture() as cap:
        cli._print_failures(e.failures, f"Problems in {e.source}", ("table", "column", "problem", "rows", "n_rows"),
                            ("NOT VALID", "red", ": ..."))
    return cap.get()


# -- the import ------------------------------------------------------------------------------------

def _extract(tmp_path: Path) -> dict[str, Path]:
    dst = tmp_path / "extract"
    shutil.copytree(EXAMPLE / "site_extract", dst)
    shutil.copy(EXAMPLE / "mapping_example.toml", dst / "mapping.toml")
    return {"mapping": dst / "mapping.toml", "patients": dst / "patients.csv", "visits": dst / "visits.csv",
            "adherence": dst / "adherence.csv"}


def _edit(path: Path, sep: str, fn) -> None:
    df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    fn(df)
    df.to_csv(path, sep=sep, index=False)


def _set_first(column: str, value: str, row: int = 0):
    def fn(d: pd.DataFrame) -> None:
        d.loc[row, column] = value
    return fn


# schema and mapping problems are collected over the whole extract: one spoiled extract holds
# them all (each in its own column or row); a header that is a value stops at the header check
CODE = "qzxv_sentinelle"  # a code-like text (a two-word text would be refused by the guard as a name)
IMPORT_SPOILS = {
    "patients": [_set_first("Aetiology", CODE, 0), _set_first("Sex", str(NUMBER), 1), _set_first("FU_weeks", CODE, 2),
                 _set_first("WeeksToTx", "45123", 3)],
    "visits": [_set_first("Falls", str(NUMBER), 0), _set_first("TA_MRC", CODE, 1), _set_first("StudyNo", "ZQX0417", 2),
               _set_first("AROM_deg", str(FLOAT), 3)],
}


@pytest.mark.parametrize("case", ["many problems", "header that is a value"])
def test_import_errors_show_no_value(tmp_path, case):
    ex = _extract(tmp_path)
    if case == "many problems":
        for table, fns in IMPORT_SPOILS.items():
            for fn in fns:
                _edit(ex[table], ";" if table == "patients" else ",", fn)
    else:
        _edit(ex["visits"], ",", lambda d: d.__setitem__(str(NUMBER), "1"))
    out = tmp_path / "new" / "cohort"  # a refused import leaves no folder made for it
    with pytest.raises(CohortValidationError) as e:
        import_cohort(ex["mapping"], patients=ex["patients"], visits=ex["visits"], adherence=ex["adherence"], out=out)
    n_expected = 7 if case == "many problems" else 1
    assert len(e.value.failures) >= n_expected, e.value.failures
    _assert_clean(str(e.value), e.value.failures.to_csv(), _print_failures_text(e.value))
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["extract"]


def test_import_cli_shows_no_value(tmp_path):
    ex = _extract(tmp_path)
    for table, fns in IMPORT_SPOILS.items():
        for fn in fns:
            _edit(ex[table], ";" if table == "patients" else ",", fn)
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["import", "--mapping", str(ex["mapping"]), "--patients", str(ex["patients"]),
                                 "--visits", str(ex["visits"]), "--adherence", str(ex["adherence"]), "--out", str(out)])
    assert result.exit_code == 1 and "NOT VALID" in result.output, result.output
    assert "Traceback" not in result.output
    _assert_clean(result.output)
    assert not out.exists()


# -- markup in codes -----------------------------------------------------------------------------

CODES = ["[/x]", "[bold red]x", "[link=http://e]y[/link]", ":smile:", "[/]"]


def test_markup_like_codes_do_not_break_the_console(small_cohort, tmp_path):
    t = _tables(small_cohort)
    t["patients"]["cause"] = t["patients"]["cause"].astype(object)
    for i, code in enumerate(CODES):
        t["patients"].loc[2 + i, "cause"] = code
    paths = {}
    for name, df in t.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    result = runner.invoke(app, ["validate", "--patients", str(paths["patients"]), "--visits", str(paths["visits"]),
                                 "--adherence", str(paths["adherence"])])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "NOT VALID" in result.output and "cause" in result.output


def test_markup_like_code_in_an_extract(tmp_path):
    ex = _extract(tmp_path)
    for i, code in enumerate(["[/x]", "[bold]", "[/]"]):
        _edit(ex["patients"], ";", _set_first("Aetiology", code, i))
    result = runner.invoke(app, ["import", "--mapping", str(ex["mapping"]), "--patients", str(ex["patients"]),
                                 "--visits", str(ex["visits"]), "--adherence", str(ex["adherence"]),
                                 "--out", str(tmp_path / "c")])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "NOT VALID" in result.output and "[/x]" not in result.output and "[bold]" not in result.output


def test_a_markup_like_path_is_printed_as_is(tmp_path):
    out = tmp_path / "[bold]x[/bold]"
    result = runner.invoke(app, ["simulate", "--n", "50", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "[bold]x[/bold]" in " ".join(result.output.split()).replace(" ", "") or "[bold]x[/bold]" in result.output


# -- column names --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["1957-03-02", "987654", "jo@example.org", "MRN0012345", "x" * 80, "tab\there",
                                  "+44 7700 900123", "19570302", "2024/01/05"])
def test_value_like_column_names_are_not_shown(name):
    shown = safe_column_name(name, 3)
    assert shown == "<column 4>"
    assert safe_column_name(name) == "<a column whose name is not shown>"


@pytest.mark.parametrize("name", ["gait_speed", "FU_weeks", "HbA1c_mmolmol", "Walk (km/h)", "TA_MRC_onset", "week 12",
                                  "<column 4>"])
def test_ordinary_column_names_are_shown(name):
    assert safe_column_name(name, 0) == name


def test_column_lists_are_checked_name_by_name():
    assert safe_columns("patient_id, day") == "patient_id, day"
    assert safe_columns("patient_id, 1957-03-02") == "patient_id, <a column whose name is not shown>"
    assert safe_columns("") == ""


def test_duplicate_key_names_both_columns_in_the_cli(small_cohort, tmp_path):
    t = _tables(small_cohort)
    t["visits"].loc[1, "day"] = t["visits"].loc[0, "day"]
    t["visits"].loc[1, "patient_id"] = t["visits"].loc[0, "patient_id"]
    paths = {}
    for name, df in t.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    result = runner.invoke(app, ["validate", "--patients", str(paths["patients"]), "--visits", str(paths["visits"]),
                                 "--adherence", str(paths["adherence"])])
    assert result.exit_code == 1 and "patient_id, day" in " ".join(result.output.split()), result.output


def test_messages_are_not_lowered_into_uselessness(small_cohort):
    """The message still says where to look: table, column, rule and row numbers."""
    t = _tables(small_cohort)
    _spoil(t, "number out of range", small_cohort.patients["patient_id"])
    with pytest.raises(CohortValidationError) as e:
        validate_tables(t)
    assert re.search(r"patients\.age: out of range \(16, 110\); 1 row \(rows 3\)", str(e.value)), str(e.value)
