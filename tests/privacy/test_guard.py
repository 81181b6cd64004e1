"""The privacy guard: identifiers by name and by content, dates, no values in messages."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from footdrop_outcomes import Cohort, load_cohort
from footdrop_outcomes.privacy import PrivacyError, check_privacy, identifier_name_reason

SECRETS = ["jane.doe@example.org", "+44 7700 900123", "943 476 5919", "123-45-6789", "QQ123456C", "SW1A 1AA",
           "12 Baker Street", "15/03/1961", "John Smith", "Patient reports tingling in the foot since the fall last week"]


@pytest.mark.parametrize("name", ["Patient Name", "surname", "MRN", "hospital_number", "NHS_No", "SSN", "phone", "Mobile",
                                  "email", "E-Mail", "Address1", "street", "postcode", "ZIP", "DOB", "DateOfBirth",
                                  "visit_date", "VisitDate", "admission_dt", "notes", "Clinical notes", "comments", "free_text"])
def test_identifier_names_are_refused(name):
    assert identifier_name_reason(name) is not None
    with pytest.raises(PrivacyError) as info:
        check_privacy({"patients": pd.DataFrame({"patient_id": ["P1"], name: ["x"]})})
    assert name in info.value.failures["column"].tolist()


@pytest.mark.parametrize("name", ["patient_id", "age", "site", "day", "followup_days", "rom_deg", "falls", "week", "severity",
                                  "ward", "update_flag", "candidate", "validated"])
def test_innocent_names_pass(name):
    assert identifier_name_reason(name) is None


@pytest.mark.parametrize(("value", "reason"), [
    ("jane.doe@example.org", "e-mail"), ("+44 7700 900123", "phone"), ("(020) 7946 0958", "phone"),
    ("9434765919", "phone|record or national ID"), ("MRN 0012345", "record or national ID"), ("123-45-6789", "record or national ID"),
    ("AB 12 34 56 C", "record or national ID"), ("SW1A 1AA", "postcode"), ("02139-4307", "phone|postcode"),
    ("12 Baker Street", "street address"), ("Flat 3, 221b Baker St", "street address"),
    ("Smith, John", "personal names"), ("Mrs Jones", "personal names"),
    ("Patient reports tingling in the foot since the fall", "free-text"),
])
def test_identifiers_hidden_under_innocent_column_names(value, reason):
    df = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "falls": ["0", value, "1"]})
    with pytest.raises(PrivacyError) as info:
        check_privacy({"visits": df}, files={"visits": "visits.csv"}, row_offset=2)
    f = info.value.failures
    assert f.loc[0, "column"] == "falls" and re.search(reason, f.loc[0, "problem"]) and f.loc[0, "rows"] == "3"
    assert value not in str(info.value) and value not in f.to_string()
    assert "visits.csv" in str(info.value)


@pytest.mark.parametrize("date", ["2024-03-15", "15/03/2024", "03-15-24", "15.03.2024", "2024/03/15", "15 March 2024",
                                  "15-Mar-2024", "March 15, 2024", "Mar 2024", "2024-03-15T10:30:00Z", "20240315"])
def test_mixed_calendar_date_formats_are_refused(date):
    df = pd.DataFrame({"patient_id": ["P1", "P2"], "day": ["14", date]})
    with pytest.raises(PrivacyError, match="dates|digits"):
        check_privacy({"visits": df})


def test_names_in_a_column_of_names():
    df = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "site": ["John Smith", "Mary Jones", "Ann Lee"]})
    with pytest.raises(PrivacyError, match="personal names"):
        check_privacy({"patients": df})


def test_numbers_dates_and_serials_in_number_columns():
    with pytest.raises(PrivacyError, match="7 or more digits"):
        check_privacy({"visits": pd.DataFrame({"patient_id": ["P1"], "falls": [7700900123]})})
    with pytest.raises(PrivacyError, match="spreadsheet date serials"):
        check_privacy({"visits": pd.DataFrame({"patient_id": ["P1", "P2"], "day": [45123, 45130]})})
    with pytest.raises(PrivacyError, match="calendar dates or times"):
        check_privacy({"visits": pd.DataFrame({"patient_id": ["P1"], "day": pd.to_datetime(["2024-01-02"])})})


def test_vocabulary_and_pseudonyms_pass(small_cohort):
    check_privacy(small_cohort.tables())
    check_privacy({"patients": pd.DataFrame({"patient_id": ["P0000001", "FD-0001", "A12"], "site": ["S01", "Clinic A", "North"]})})


def test_demo_and_synthetic_cohorts_pass_on_load(small_cohort, tmp_path):
    load_cohort("data/synthetic/demo")
    small_cohort.save(tmp_path / "c")
    load_cohort(tmp_path / "c")


def test_load_cohort_refuses_identifiers_without_showing_them(small_cohort, tmp_path):
    small_cohort.save(tmp_path / "c")
    p = pd.read_parquet(tmp_path / "c" / "patients.parquet")
    p["site"] = p["site"].astype(str)
    p.loc[5, "site"] = "jane.doe@example.org"
    p.to_parquet(tmp_path / "c" / "patients.parquet", index=False)
    with pytest.raises(PrivacyError) as info:
        load_cohort(tmp_path / "c")
    assert "patients.parquet" in str(info.value) and "patients.site" in str(info.value)
    assert "jane" not in str(info.value)


def test_from_csv_and_constructor_refuse_before_schema_errors_can_echo_values(small_cohort, tmp_path):
    files = small_cohort.to_csv(tmp_path)
    v = pd.read_csv(files["visits"], dtype=str)
    v.loc[0, "mrc"] = "+44 7700 900123"  # would be echoed by the schema's "not a number" examples
    v["Notes"] = ""
    v.to_csv(files["visits"], index=False)
    with pytest.raises(PrivacyError) as info:
        Cohort.from_csv(files["patients"], files["visits"], files["adherence"])
    assert set(info.value.failures["column"]) == {"mrc", "Notes"}
    assert "7700" not in str(info.value) and info.value.failures.loc[info.value.failures["column"] == "mrc", "rows"].iloc[0] == "2"
    p = small_cohort.patients.copy()
    p["patient_id"] = p["patient_id"].astype(str)
    p.loc[0, "patient_id"] = "123-45-6789"
    with pytest.raises(PrivacyError, match="record or national ID"):
        Cohort(patients=p, visits=small_cohort.visits, adherence=small_cohort.adherence)


def test_privacy_error_is_a_validation_error():
    from footdrop_outcomes import CohortValidationError

    assert issubclass(PrivacyError, CohortValidationError)


def test_the_guard_sits_below_the_cohort_layer():
    # the guard package imports nothing above it: no cohort, privacy, analysis or report module
    import ast
    import pathlib

    for path in pathlib.Path("src/footdrop_outcomes/guard").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("footdrop_outcomes"):
                assert node.module.startswith(("footdrop_outcomes.guard", "footdrop_outcomes.errors")), (path, node.module)
    cohort = pathlib.Path("src/footdrop_outcomes/cohort/cohort.py").read_text()
    assert "footdrop_outcomes.privacy" not in cohort


def test_privacy_guard_reexports_the_guard_package():
    import footdrop_outcomes.guard as g
    from footdrop_outcomes.privacy import guard as pg

    assert pg.PrivacyError is g.PrivacyError and pg.check_privacy is g.check_privacy and pg.check_text is g.check_text
    assert "patient_id" in g.data_model().keys and "site" in g.data_model().labels
