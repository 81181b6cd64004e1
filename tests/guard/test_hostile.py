"""Hostile inputs by class (many scripts, locales, ID formats, date spellings, key styles) and the
legitimate values that must pass. Every refusal is checked for not showing the value."""

from __future__ import annotations

import ast
import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import guard_cases as C  # noqa: E402
from footdrop_outcomes.guard import PrivacyError, check_privacy, check_text, find_identifiers
from footdrop_outcomes.privacy import load_mapping

HOSTILE = {
    "names": C.NAMES_ANY, "emails": C.EMAILS, "web": C.WEB, "phones": C.PHONES, "national_ids": C.NATIONAL_IDS,
    "record_numbers": C.RECORD_NUMBERS, "dates": C.DATES, "addresses": C.ADDRESSES, "postcodes": C.POSTCODES,
    "free_text": C.FREE_TEXT,
}


def _refused(tables: dict[str, pd.DataFrame]) -> PrivacyError:
    with pytest.raises(PrivacyError) as info:
        check_privacy(tables, files={name: f"{name}.csv" for name in tables}, row_offset=2)
    return info.value


def _no_value_shown(err: PrivacyError, value: str) -> None:
    text = str(err) + err.failures.to_string()
    assert value.strip()[:40] not in text


def _refused_positions(err: PrivacyError, column: str) -> set[int]:
    return {int(r) for rows in err.failures.loc[err.failures["column"] == column, "rows"] for r in rows.split(", ") if r.isdigit()}


@pytest.mark.parametrize("cls", list(HOSTILE))
@pytest.mark.parametrize(("column", "kind"), [("ref", "free"), ("site", "label"), ("cause", "code")])
def test_one_hostile_value_among_harmless_ones_is_refused_everywhere(cls, column, kind):
    # each value among harmless ones: a column not in the data model, the site label, a
    # closed-vocabulary column (the engine per value, then one table through the scanner)
    values = HOSTILE[cls]
    harmless = ["S01", "0", "stroke"] if kind != "code" else ["stroke", "CVA", "MS"]
    for v in values:
        hits = find_identifiers(harmless + [v], kind=kind)
        assert hits and all(pos == [3] for _, pos in hits), v
    table = pd.DataFrame({"patient_id": [f"P{i}" for i in range(len(values) + 2)], column: ["0", *values, "1"]})
    err = _refused({"patients": table})
    assert set(err.failures["column"]) == {column} and 2 not in _refused_positions(err, column)
    for v in values:
        _no_value_shown(err, v)


@pytest.mark.parametrize("cls", list(HOSTILE))
def test_hostile_values_as_patient_keys(cls):
    values = HOSTILE[cls]
    missed = [v for i, v in enumerate(values) if not any(i in pos for _, pos in find_identifiers(values, kind="key"))]
    assert not missed
    keys = ["P0000001"] + values
    err = _refused({"patients": pd.DataFrame({"patient_id": keys}),
                    "visits": pd.DataFrame({"patient_id": values[:3] + ["P0000001"], "day": [0, 7, 14, 21]})})
    assert set(err.failures["column"]) == {"patient_id"} and set(err.failures["table"]) == {"patients", "visits"}
    for v in values:
        _no_value_shown(err, v)


@pytest.mark.parametrize("key", C.KEYS_BAD)
def test_identifying_key_styles_are_refused(key):
    err = _refused({"patients": pd.DataFrame({"patient_id": ["P0000002", key, "P0000003"]})})
    assert set(err.failures["column"]) == {"patient_id"} and set(err.failures["rows"]) == {"3"}
    _no_value_shown(err, key)


@pytest.mark.parametrize("n", [1, 40, 2000])
def test_record_numbers_are_refused_by_key_density_in_any_cohort_size(n):
    rng = np.random.default_rng(n)
    numbers = rng.choice(np.arange(100_000, 9_999_999), size=n, replace=False)
    for fmt in ("H{:07d}", "RX{}", "K{:07d}", "{}-A"):
        keys = [fmt.format(x) for x in numbers]
        err = _refused({"patients": pd.DataFrame({"patient_id": keys})})
        assert any("far larger than the number of patients" in p for p in err.failures["problem"]), fmt


def test_key_density_is_decided_on_every_chunk_seen():
    # a 3000-patient cohort numbered 1..3000 streamed in chunks: the later chunks' numbers are
    # above the threshold of the first chunk alone, yet every key is a sequential pseudonym
    from footdrop_outcomes.guard import PrivacyScanner

    keys = pd.Series([f"P{i:07d}" for i in range(1, 3001)])
    scanner = PrivacyScanner("chunks")
    for start in range(0, 3000, 100):
        scanner.scan("patients", pd.DataFrame({"patient_id": keys[start:start + 100].to_numpy()}), row_offset=start)
    assert not scanner.found
    scanner.scan("patients", pd.DataFrame({"patient_id": ["P0912345"]}), row_offset=3000)  # far above 10 x 3001 + 1000
    assert scanner.found and scanner.failures.loc[0, "rows"] == "3000"


@pytest.mark.parametrize("column", C.KEYS_GOOD_COLUMNS, ids=lambda c: c[0])
def test_legitimate_key_styles_pass(column):
    check_privacy({"patients": pd.DataFrame({"patient_id": column}),
                   "visits": pd.DataFrame({"patient_id": column[:2], "day": [0, 7]})})


@pytest.mark.parametrize("script", ["latin", "other"])
def test_a_column_of_plain_names_is_refused_in_any_script(script):
    names = [n for n in C.NAMES_COLUMN if n.isascii() or any(ch.isalpha() and not ch.isascii() for ch in n)]
    latin = [n for n in names if all(ord(ch) < 0x250 or not ch.isalpha() for ch in n)]
    chosen = latin if script == "latin" else [n for n in names if n not in latin]
    assert len(chosen) >= 5
    for column in ("ref", "site"):
        err = _refused({"patients": pd.DataFrame({"patient_id": [f"P{i}" for i in range(len(chosen))], column: chosen})})
        assert "personal names" in err.failures.loc[0, "problem"]
        for v in chosen:
            _no_value_shown(err, v)


def test_legitimate_site_labels_and_codes_pass():
    n = len(C.LABELS_GOOD)
    check_privacy({"patients": pd.DataFrame({"patient_id": [f"P{i:07d}" for i in range(1, n + 1)], "site": C.LABELS_GOOD})})
    for value in C.LABELS_GOOD:
        assert find_identifiers([value, "S01"], kind="label") == [], value
    # a site's own codes in closed-vocabulary columns, before the mapping recodes them
    for value in C.CODES_GOOD:
        assert find_identifiers([value], kind="code") == [], value
    codes = pd.Series(C.CODES_GOOD * 3)
    check_privacy({"patients": pd.DataFrame({"patient_id": [f"P{i:07d}" for i in range(1, len(codes) + 1)], "cause": codes})})


@pytest.mark.parametrize("dtype", ["object", "string", "string[pyarrow]", "category"])
@pytest.mark.parametrize("value", ["Mrs Jones", "jo@bücher.de", "15 mars 2024", "0001234", "Иван Петров"])
def test_every_text_dtype_of_a_saved_column_is_scanned(dtype, value):
    pid = pd.Series(["P0000001", "P0000002", "P0000003"]).astype(dtype)
    site = pd.Series(["S01", value, "S02"] if value != "Иван Петров" else [value, "Ольга Смирнова", "S01"]).astype(dtype)
    err = _refused({"patients": pd.DataFrame({"patient_id": pid, "site": site})})
    assert set(err.failures["column"]) == {"site"}
    key = pd.Series(["P0000001", value, "P0000003"]).astype(dtype)
    err = _refused({"patients": pd.DataFrame({"patient_id": key})})
    assert set(err.failures["column"]) == {"patient_id"}


def test_a_categorical_is_scanned_including_unused_categories():
    site = pd.Categorical(["S01", "S02"], categories=["S01", "S02", "Mrs Jones"])
    err = _refused({"patients": pd.DataFrame({"patient_id": ["P1", "P2"], "site": site})})
    assert err.failures.loc[0, "n_rows"] == 0 and "categories" in err.failures.loc[0, "rows"]


@pytest.mark.parametrize("dtype", ["Int64", "float64", "int64", "Float64"])
def test_number_dtypes(dtype):
    ok = pd.Series([0, 3, 7, 120]).astype(dtype)
    check_privacy({"visits": pd.DataFrame({"patient_id": ["P1"] * 4, "falls": ok})})
    bad = pd.Series([0, 3, 7700900123, 120]).astype(dtype)
    err = _refused({"visits": pd.DataFrame({"patient_id": ["P1"] * 4, "falls": bad})})
    assert err.failures.loc[0, "rows"] == "4" and "7700900123" not in str(err)
    serial = pd.Series([45123, 45130, 45200]).astype(dtype)
    err = _refused({"visits": pd.DataFrame({"patient_id": ["P1"] * 3, "day": serial})})
    assert "serial" in err.failures.loc[0, "problem"]
    # numbers as patient keys follow the key rules
    err = _refused({"patients": pd.DataFrame({"patient_id": pd.Series([1234567, 2345678]).astype(dtype)})})
    assert "record or national ID" in err.failures.loc[0, "problem"]


def test_long_values_are_refused_quickly_and_without_the_value():
    long_key = "A" * 5_000_000
    err = _refused({"patients": pd.DataFrame({"patient_id": ["P1", long_key]})})
    assert "free-text" in err.failures.loc[0, "problem"] and len(str(err)) < 2_000
    nasty = "1" + " 1" * 2_000_000 + "x"  # quadratic for a backtracking phone pattern
    err = _refused({"patients": pd.DataFrame({"patient_id": ["P1", "P2"], "site": ["S01", nasty]})})
    assert len(str(err)) < 2_000
    with pytest.raises(PrivacyError, match="longer than"):
        check_text("a" * 1_001, where="report title")


def test_check_text_names_where_only():
    check_text("Foot-drop outcomes 2019-2024, all sites", where="report parameter 'title'")
    check_text("cause + age + site[S01]", where="formula")
    check_text(None, where="x")
    for value in ["Patients of Dr Müller", "Clinic of Mrs Jones", "jo@bücher.de", "cohort 15.03.2024", "NHS: 943 476 5919",
                  "tel:+44 20 7946 0958", "van der Berg, Anna", "Muñoz, José"]:
        with pytest.raises(PrivacyError) as info:
            check_text(value, where="report parameter 'title'")
        assert "report parameter 'title'" in str(info.value)
        _no_value_shown(info.value, value)


def _mapping(**change):
    import tomllib

    raw = tomllib.loads(pathlib.Path("data/examples/mapping_example.toml").read_text())
    for section, entries in change.items():
        table, *rest = section.split(".")
        target = raw[table]
        for part in rest:
            target = target.setdefault(part, {})
        target.update(entries)
    return raw


@pytest.mark.parametrize(("section", "entries", "where"), [
    ("patients.codes.site", {"Mrs Jones": "S09"}, "[patients.codes.site] entry 9 (code)"),
    ("patients.codes.site", {"Clinic Z": "José Muñoz, Zoë Öztürk"}, "[patients.codes.site] entry 9 (value)"),
    ("patients.codes.site", {"Clinic Z": "jo@bücher.de"}, "[patients.codes.site] entry 9 (value)"),
    ("patients.codes.sex", {"RX1234567": "female"}, "[patients.codes.sex] entry 3 (code)"),
    ("patients.codes.cause", {"15 mars 2024": "stroke"}, "[patients.codes.cause] entry 9 (code)"),
    ("visits.codes.afo_needed", {"+44 20 7946 0958 ext. 123": "yes"}, "[visits.codes.afo_needed] entry 1 (code)"),
])
def test_mapping_code_tables_are_checked_on_both_sides(section, entries, where):
    raw = _mapping(**{section: entries})
    with pytest.raises(PrivacyError) as info:
        load_mapping(raw)
    assert where in str(info.value)
    for v in list(entries) + list(entries.values()):
        _no_value_shown(info.value, v)


def test_mapping_constants_and_description_are_checked():
    raw = _mapping()
    del raw["patients"]["columns"]["site"], raw["patients"]["codes"]["site"]
    raw["patients"]["constants"] = {"site": "Dr Gray"}
    with pytest.raises(PrivacyError, match=r"\[patients.constants\] site"):
        load_mapping(raw)
    raw["patients"]["constants"] = {"site": "S01"}
    load_mapping(raw)
    raw["description"] = "Extract sent by jo@example.org"
    with pytest.raises(PrivacyError, match="description"):
        load_mapping(raw)


def test_error_messages_have_no_f_string_values():
    # every message of the guard is built from fixed reasons, table, column and row numbers
    src = pathlib.Path("src/footdrop_outcomes/guard")
    for path in src.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & {"value", "values", "text", "sub", "uniques", "key", "keys"}, (path, names)
