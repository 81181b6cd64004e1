"""Importing extracts: the worked example, hostile inputs, atomic writes, a streamed 1M-row file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import CohortIOError, CohortValidationError, ConfigError, load_cohort, simulate_cohort
from footdrop_outcomes.privacy import PrivacyError, import_cohort, load_mapping

EXAMPLE_PATIENTS = Path(__file__).resolve().parents[2] / "data" / "examples" / "site_extract" / "patients.csv"


def _run(ex, out, **kw):
    return import_cohort(kw.pop("mapping", ex["mapping"]), patients=kw.pop("patients", ex["patients"]), visits=kw.pop("visits", ex["visits"]),
                         adherence=kw.pop("adherence", ex["adherence"]), out=out, **kw)


def _nothing_written(tmp_path, out):
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []


def _edit_mapping(ex, old, new):
    text = ex["mapping"].read_text()
    assert old in text
    ex["mapping"].write_text(text.replace(old, new))


def test_worked_example_gives_back_the_simulated_cohort(example, tmp_path):
    result = _run(example, tmp_path / "c")
    assert result.rows == {"patients": 120, "visits": 634, "adherence": 4358}
    assert result.handled["duplicate_rows_dropped"]["visits"] == 2 and result.handled["rows_sorted"]["visits"] > 0
    got, truth = load_cohort(tmp_path / "c"), simulate_cohort(120, seed=7)
    assert got.truth is None and "mapping" in got.metadata and got.metadata["privacy"]["guard"] == "passed"
    for name in ("patients", "visits", "adherence"):
        a, b = got.tables()[name], truth.tables()[name]
        for col in a.columns:
            if col in ("patient_id", "site"):
                continue
            if a[col].dtype.kind == "f":
                np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), atol=0.02, equal_nan=True, err_msg=col)
            else:
                assert (a[col].astype(str).to_numpy() == b[col].astype(str).to_numpy()).all(), col
    assert got.patients["patient_id"].astype(str).iloc[0] == "FD-0001"
    assert set(got.patients["site"].astype(str)) <= {f"S0{i}" for i in range(1, 9)}


def test_ages_are_top_coded_and_mrc_minus_rule(example, tmp_path):
    p = pd.read_csv(example["patients"], sep=";", dtype=str)
    p.loc[0, "AgeYears"] = "97"
    p.loc[1, "AgeYears"] = "90"
    p.loc[2, "TA_MRC_onset"] = "4-"
    p.loc[2, "Severity"] = "Mild"
    p.to_csv(example["patients"], sep=";", index=False)
    result = _run(example, tmp_path / "c")
    got = load_cohort(tmp_path / "c")
    assert got.patients["age"].iloc[:2].tolist() == [90, 90] and result.handled["ages_top_coded"] == 1
    assert got.patients["age"].max() == 90 and got.patients["baseline_mrc"].iloc[2] == 4


def test_pseudonymise_replaces_record_numbers(example, tmp_path):
    for name, sep in (("patients", ";"), ("visits", ","), ("adherence", ",")):
        df = pd.read_csv(example[name], sep=sep, dtype=str, keep_default_na=False)
        df["StudyNo"] = "MRN" + df["StudyNo"].str[3:].str.zfill(7)  # record numbers, e.g. MRN0000001
        df.to_csv(example[name], sep=sep, index=False)
    with pytest.raises(PrivacyError, match="record or national ID"):
        _run(example, tmp_path / "c")
    _nothing_written(tmp_path, tmp_path / "c")
    _edit_mapping(example, "pseudonymise_ids = false", "pseudonymise_ids = true")
    _run(example, tmp_path / "c")
    got = load_cohort(tmp_path / "c")
    assert got.patients["patient_id"].astype(str).iloc[0] == "P0000001" and not got.visits["patient_id"].astype(str).str.contains("MRN").any()
    assert "MRN" not in "".join(p.read_bytes().decode("latin-1") for p in (tmp_path / "c").iterdir())


def test_identifier_columns_are_refused_and_nothing_is_written(example, tmp_path):
    v = pd.read_csv(example["visits"], dtype=str)
    v["ref"] = "07700 900" + pd.Series(range(len(v))).astype(str).str.zfill(3)  # phone numbers, innocent name
    v["Clinician notes"] = "seen in clinic today, walking better with the splint"
    v.to_csv(example["visits"], index=False)
    _edit_mapping(example, '[visits.columns]', '[visits]\ndrop = []\n\n[visits.columns]')
    _edit_mapping(example, 'afo_needed = "AFO_still_needed"', 'afo_needed = "AFO_still_needed"\nfalls2 = "ref"')
    with pytest.raises(ConfigError, match="falls2"):
        _run(example, tmp_path / "c")
    _edit_mapping(example, 'falls2 = "ref"', '')
    _edit_mapping(example, 'falls = "Falls"', 'falls = "ref"')
    _edit_mapping(example, 'drop = []', 'drop = ["Falls"]')
    with pytest.raises(PrivacyError) as info:
        _run(example, tmp_path / "c")
    f = info.value.failures
    assert set(f["column"]) == {"Clinician notes", "falls"}
    assert "07700" not in str(info.value) and "visits.csv" in str(info.value)
    _nothing_written(tmp_path, tmp_path / "c")


def test_calendar_dates_instead_of_relative_days(example, tmp_path):
    v = pd.read_csv(example["visits"], dtype=str)
    v["VisitWeek"] = np.where(np.arange(len(v)) % 2, "2024-03-15", "15/03/2024")
    v.to_csv(example["visits"], index=False)
    with pytest.raises(PrivacyError, match="calendar dates"):
        _run(example, tmp_path / "c")
    _nothing_written(tmp_path, tmp_path / "c")


def test_duplicated_patients(example, tmp_path):
    p = pd.read_csv(example["patients"], sep=";", dtype=str)
    pd.concat([p, p.iloc[[4]]]).to_csv(example["patients"], sep=";", index=False)
    _run(example, tmp_path / "c")  # exact repeat: dropped (options.duplicates = "drop_identical")
    assert load_cohort(tmp_path / "c").n_patients == 120
    p2 = p.iloc[[4]].assign(AgeYears="33")
    pd.concat([p, p2]).to_csv(example["patients"], sep=";", index=False)
    with pytest.raises(CohortValidationError, match="duplicate patient") as info:
        _run(example, tmp_path / "d")
    assert info.value.failures.query("column == 'patient_id'")["rows"].iloc[0] == "6, 122"
    _nothing_written(tmp_path, tmp_path / "d")
    _edit_mapping(example, 'duplicates = "drop_identical"', 'duplicates = "refuse"')
    pd.concat([p, p.iloc[[4]]]).to_csv(example["patients"], sep=";", index=False)
    with pytest.raises(CohortValidationError, match="drop_identical"):
        _run(example, tmp_path / "d")


def test_impossible_values_and_unknown_codes_name_source_lines(example, tmp_path):
    v = pd.read_csv(example["visits"], dtype=str)
    v.loc[9, "TA_MRC"] = "7"
    v.loc[10, "TA_MRC"] = "strong"
    v.loc[11, "Falls"] = "-2"
    v.to_csv(example["visits"], index=False)
    p = pd.read_csv(example["patients"], sep=";", dtype=str)
    p.loc[3, "Aetiology"] = "Charcot-Marie-Tooth"
    p.loc[5, "AgeYears"] = "140"
    p.to_csv(example["patients"], sep=";", index=False)
    with pytest.raises(CohortValidationError) as info:
        _run(example, tmp_path / "c")
    f = info.value.failures
    cause = f.query("table == 'patients' and column == 'cause'").iloc[0]
    assert "[patients.codes.cause]" in cause["problem"] and cause["rows"] == "5"
    assert info.value.failures["problem"].str.contains("not an MRC grade").any()
    text = info.value.failures.to_string()
    assert "out of range" in text and "falls" in text and "age" in text
    assert "12" in " ".join(info.value.failures.query("column == 'mrc'")["rows"])  # line 12 = row 10
    _nothing_written(tmp_path, tmp_path / "c")


def test_wrong_units_get_a_hint(example, tmp_path):
    _edit_mapping(example, 'hba1c = "mmol/mol"', 'hba1c = "%"')
    with pytest.raises(CohortValidationError, match="fit 'mmol/mol'"):
        _run(example, tmp_path / "c")
    _edit_mapping(example, 'hba1c = "%"', 'hba1c = "mmol/mol"')
    _edit_mapping(example, 'gait_speed = "km/h"', 'gait_speed = "m/s"')
    with pytest.raises(CohortValidationError, match="declared unit 'm/s' but fit"):
        _run(example, tmp_path / "c")
    _nothing_written(tmp_path, tmp_path / "c")


def test_empty_and_missing_files(example, tmp_path):
    example["adherence"].write_text("")
    with pytest.raises(CohortIOError, match="empty"):
        _run(example, tmp_path / "c")
    header = "StudyNo,VisitWeek,TA_MRC,AROM_deg,Walk_kmh,Falls,AFO_still_needed\n"
    example["visits"].write_text(header)
    example["adherence"].write_text(pd.read_csv(tmp_path / "extract" / "patients.csv", nrows=0).to_csv() if False else
                                    ",".join(["StudyNo", "DaySinceOnset"]) + "\n")
    with pytest.raises((CohortValidationError, CohortIOError)):
        _run(example, tmp_path / "c")
    with pytest.raises(CohortIOError, match="does not exist"):
        _run(example, tmp_path / "c", patients=tmp_path / "nope.csv")
    _nothing_written(tmp_path, tmp_path / "c")


def test_header_only_visits_file_is_refused_as_empty(example, tmp_path):
    v = pd.read_csv(example["visits"], nrows=0)
    v.to_csv(example["visits"], index=False)
    with pytest.raises(CohortValidationError, match="table is empty"):
        _run(example, tmp_path / "c")


def test_unmapped_columns_and_bad_mappings(example, tmp_path):
    p = pd.read_csv(example["patients"], sep=";", dtype=str)
    p["Consultant"] = "x"
    p.to_csv(example["patients"], sep=";", index=False)
    with pytest.raises(CohortValidationError, match="neither mapped nor dropped"):
        _run(example, tmp_path / "c")
    with pytest.raises(ConfigError, match="not valid TOML"):
        (tmp_path / "bad.toml").write_text("[patients\n")
        load_mapping(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="mrc_minus"):
        load_mapping({**_raw(example), "options": {"mrc_minus": "round"}})
    with pytest.raises(ConfigError, match="does not say where"):
        raw = _raw(example)
        del raw["visits"]["columns"]["falls"]
        load_mapping(raw)
    with pytest.raises(ConfigError, match="furlongs"):
        raw = _raw(example)
        raw["visits"]["units"]["day"] = "furlongs"
        load_mapping(raw)


def _raw(example):
    import tomllib

    return tomllib.loads(example["mapping"].read_text())


def test_failed_import_keeps_an_existing_cohort(example, tmp_path):
    _run(example, tmp_path / "c")
    before = (tmp_path / "c" / "manifest.json").read_text()
    with pytest.raises(CohortIOError, match="already exists"):
        _run(example, tmp_path / "c")
    v = pd.read_csv(example["visits"], dtype=str)
    v.loc[0, "TA_MRC"] = "9"
    v.to_csv(example["visits"], index=False)
    with pytest.raises(CohortValidationError):
        _run(example, tmp_path / "c", overwrite=True)
    assert (tmp_path / "c" / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "extract"]


def test_parquet_extract_and_small_chunks_give_the_same_cohort(example, tmp_path):
    for name, sep in (("patients", ";"), ("visits", ","), ("adherence", ",")):
        pd.read_csv(example[name], sep=sep, dtype=str, keep_default_na=False, na_values=["", "NA"]).to_parquet(tmp_path / f"{name}.parquet")
    _run(example, tmp_path / "a")
    _run(example, tmp_path / "b", patients=tmp_path / "patients.parquet", visits=tmp_path / "visits.parquet",
         adherence=tmp_path / "adherence.parquet", chunk_rows=97, patients_per_partition=7)
    a, b = load_cohort(tmp_path / "a"), load_cohort(tmp_path / "b")
    for name in ("patients", "visits", "adherence"):
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])


WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from footdrop_outcomes.privacy import import_cohort
    d = Path(sys.argv[1])
    r = import_cohort(d / "mapping.toml", patients=d / "patients.csv", visits=d / "visits.csv",
                      adherence=d / "adherence.csv", out=d / "cohort")
    hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
    print(json.dumps({"rows": r.rows, "peak_mb": hwm}))
""")


def _write_big_extract(d, n_patients, n_visits):
    """A valid extract written with pyarrow (fast): identity mapping, days in weeks, MRC with +/-."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from footdrop_outcomes.cohort.schema import SCHEMAS

    rng = np.random.default_rng(3)
    ids = np.char.add("S", np.char.zfill(np.arange(n_patients).astype(str), 7)).astype(object)
    base = rng.integers(0, 5, n_patients)
    sev = np.array(["severe", "severe", "moderate", "mild", "mild"], dtype=object)[base]
    patients = {"patient_id": ids, "age": rng.integers(18, 99, n_patients), "sex": rng.choice(np.array(["female", "male"], dtype=object), n_patients),
                "side": "left", "cause": "stroke", "severity": sev, "baseline_mrc": base, "diabetes": "no", "hba1c": None, "smoking": "never",
                "bmi": 27.5, "days_to_treatment": 3, "home_exercise": "yes", "supervised_physio": "no", "afo": "none", "fes": "no",
                "surgery": "none", "site": rng.choice(np.array(["S01", "S02"], dtype=object), n_patients), "red_flag_cauda_equina": "no",
                "red_flag_rapid_worsening": "no", "followup_days": 3640, "followup_end": "study_end"}
    per = n_visits // n_patients
    pid = np.repeat(np.arange(n_patients), per)
    within = np.tile(np.arange(per), n_patients)
    grades = np.array(["0", "1-", "2", "3+", "4-", "4", "5"], dtype=object)
    visits = {"patient_id": ids[pid], "day": within * 2.0 + 0.5, "mrc": grades[rng.integers(0, 7, len(pid))],
              "rom_deg": np.round(rng.uniform(-20, 20, len(pid)), 1), "gait_speed": 1.1, "falls": 0, "afo_needed": "no"}
    adherence = {c: ([ids[0]] if c == "patient_id" else [1] if not c.endswith("_hours") and "hours" not in c else [None])
                 for c in SCHEMAS["adherence"].columns}
    for name, cols in (("patients", patients), ("visits", visits), ("adherence", adherence)):
        n = len(cols["patient_id"])
        arrays = {k: (v if isinstance(v, (np.ndarray, list)) else [v] * n) for k, v in cols.items()}
        pcsv.write_csv(pa.table(arrays), d / f"{name}.csv")
    lines = ["format_version = 1"]
    for name in ("patients", "visits", "adherence"):
        lines += [f"[{name}.columns]"] + [f'{c} = "{c}"' for c, spec in SCHEMAS[name].columns.items() if spec.required]
    lines += ["[visits.units]", 'day = "weeks"']
    (d / "mapping.toml").write_text("\n".join(lines) + "\n")


def test_streams_a_million_visit_rows_with_bounded_memory(tmp_path):
    _write_big_extract(tmp_path, 100_000, 1_000_000)
    res = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["rows"]["visits"] == 1_000_000 and report["rows"]["patients"] == 100_000
    # the 31 MB visits file as pandas objects would take > 500 MB; measured about 320 MB (benchmarks/README.md)
    assert report["peak_mb"] < 600
    meta = json.loads((tmp_path / "cohort" / "manifest.json").read_text())
    assert meta["rows"]["visits"] == 1_000_000 and meta["import_handling"]["ages_top_coded"] > 0


def test_unknown_codes_and_blanks_become_missing_counted_per_column(example, tmp_path):
    p = pd.read_csv(example["patients"], sep=";", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(5)
    rows = rng.permutation(len(p))
    smoking_unknown, smoking_blank = rows[:9], rows[9:15]  # coded unknown (three spellings), left empty
    p.loc[smoking_unknown, "Smoker"] = np.resize(["unknown", "Not Recorded", " 9 "], 9)
    p.loc[smoking_blank, "Smoker"] = ""
    dm_unknown = rows[20:32]
    p.loc[dm_unknown, "DM"] = "9"
    hba1c_unknown = rows[40:45]
    p.loc[hba1c_unknown, "HbA1c_mmolmol"] = "-99"
    dtt_blank = rows[50:54]
    p.loc[dtt_blank, "WeeksToTx"] = ""
    p.to_csv(example["patients"], sep=";", index=False)
    hba1c_blank_before = int((pd.read_csv(EXAMPLE_PATIENTS, sep=";", dtype=str, keep_default_na=False)["HbA1c_mmolmol"]
                              .iloc[np.setdiff1d(np.arange(len(p)), hba1c_unknown)].str.strip().isin(["", "NA"])).sum())
    result = _run(example, tmp_path / "c")
    u = result.handled["unknown_to_missing"]
    assert u["patients.smoking"] == 9 and u["patients.diabetes"] == 12 and u["patients.hba1c"] == 5
    assert u["patients.days_to_treatment"] == 0 and u["patients.bmi"] == 0
    got = load_cohort(tmp_path / "c")
    pt = got.patients
    assert pt["smoking"].isna().sum() == 15 and pt["diabetes"].isna().sum() == 12
    assert pt["days_to_treatment"].isna().sum() == 4 and pt["hba1c"].isna().sum() == 5 + hba1c_blank_before
    assert str(pt["diabetes"].dtype) == "boolean" and str(pt["days_to_treatment"].dtype) == "Int64"
    assert pt["smoking"].isna().to_numpy()[np.sort(np.r_[smoking_unknown, smoking_blank])].all()
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["import_handling"]["unknown_to_missing"] == u
    assert manifest["import_handling"]["missing_values"]["patients"]["smoking"] == 15
    assert manifest["mapping"]["tables"]["patients"]["unknown"]["smoking"] == ["9", "not recorded", "unknown"]


def test_a_code_neither_known_nor_unknown_is_an_error_naming_file_column_line(example, tmp_path):
    p = pd.read_csv(example["patients"], sep=";", dtype=str, keep_default_na=False)
    p.loc[6, "Smoker"] = "occasionally"
    p.to_csv(example["patients"], sep=";", index=False)
    with pytest.raises(CohortValidationError) as info:
        _run(example, tmp_path / "c")
    row = info.value.failures.query("table == 'patients' and column == 'smoking'").iloc[0]
    assert row["rows"] == "8" and "patients.csv" in row["problem"] and "[patients.unknown]" in row["problem"]
    assert "occasionally" not in str(info.value)
    _nothing_written(tmp_path, tmp_path / "c")


def test_unknown_codes_only_where_the_data_model_allows_missing(example):
    _edit_mapping(example, 'smoking = ["unknown", "not recorded", "9"]', 'smoking = ["unknown"]\ncause = ["unknown"]')
    with pytest.raises(ConfigError, match=r"\[patients.unknown\] cause: this column may not be missing"):
        load_mapping(example["mapping"])


def test_optional_first_contact_column_is_imported_and_checked_against_visits(example, tmp_path):
    v = pd.read_csv(example["visits"], dtype=str)
    first = v.assign(w=v["VisitWeek"].astype(float)).groupby("StudyNo")["w"].min()
    p = pd.read_csv(example["patients"], sep=";", dtype=str, keep_default_na=False)
    p["FirstSeenWeeks"] = p["StudyNo"].map(first).map(lambda w: f"{w:.2f}")
    p.to_csv(example["patients"], sep=";", index=False)
    _edit_mapping(example, 'followup_end = "EndReason"', 'followup_end = "EndReason"\nfirst_contact_day = "FirstSeenWeeks"')
    _edit_mapping(example, "[patients.units]\n", '[patients.units]\nfirst_contact_day = "weeks"\n')
    _run(example, tmp_path / "c")
    got = load_cohort(tmp_path / "c")
    assert str(got.patients["first_contact_day"].dtype) == "int64"
    first_visit = got.visits.groupby("patient_id", observed=True)["day"].min().reindex(got.patients["patient_id"])
    assert (got.patients["first_contact_day"].to_numpy() == first_visit.to_numpy()).all()
    # first contact a week after a patient's first visit: that visit is refused, by its line
    i = 4
    p.loc[i, "FirstSeenWeeks"] = f"{float(p.loc[i, 'FirstSeenWeeks']) + 1:.2f}"
    p.to_csv(example["patients"], sep=";", index=False)
    with pytest.raises(CohortValidationError) as info:
        _run(example, tmp_path / "c2")
    row = info.value.failures.query("table == 'visits' and column == 'day'").iloc[0]
    line = int(np.flatnonzero((v["StudyNo"] == p.loc[i, "StudyNo"]).to_numpy() & (v["VisitWeek"].astype(float) == first[p.loc[i, "StudyNo"]]).to_numpy())[0]) + 2
    assert "before the patient's first contact" in row["problem"] and str(line) in row["rows"].split(", ")
