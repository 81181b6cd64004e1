"""OMOP CDM v5.4 import and export: the synthetic CDM (official DDL) against the cohort its generator encoded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import load_cohort, simulate_cohort
from footdrop_outcomes.errors import CohortIOError, CohortValidationError, ConfigError
from footdrop_outcomes.sources import (
    OmopOptions,
    export_omop,
    import_omop,
    load_concept_sets,
)

# SHA-256 of inst/ddl/5.4/duckdb/OMOPCDM_duckdb_5.4_ddl.sql in github.com/OHDSI/CommonDataModel at
# f853f6e39c61b4eb8b3e5287fd573a1ced36c0e4 (computed on the upstream file, not on the shipped copy)
UPSTREAM_DDL_SHA256 = "0fc8a0ff69ef0fc4e3adedb8e1c50f97bf540211e4e806ac76b8c66385672daf"


def _compare_patients(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    e = expected.set_index("patient_id").sort_index()
    g = got.assign(patient_id=got["patient_id"].astype(str)).set_index("patient_id").sort_index()
    assert list(g.index) == list(e.index)
    for col in e.columns:
        a, b = e[col], g[col]
        if col in ("hba1c", "bmi", "surgery_day", "age", "baseline_mrc", "days_to_treatment", "followup_days"):
            a = pd.to_numeric(a, errors="coerce").astype(float)
            b = pd.to_numeric(b, errors="coerce").astype(float)
            ok = np.isclose(a, b, rtol=0, atol=1e-9) | (a.isna() & b.isna())
        else:
            ok = (a.astype(object).where(a.notna(), None).map(str) == b.astype(object).where(b.notna(), None).map(str))
        assert ok.all(), f"patients.{col} differs for {list(e.index[~ok.to_numpy()])}"


def _compare_visits(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    g = got.assign(patient_id=got["patient_id"].astype(str))
    m = expected.merge(g, on=["patient_id", "day"], how="outer", suffixes=("_e", "_g"), indicator=True)
    assert (m["_merge"] == "both").all(), "visit days differ"
    for col in ("mrc", "rom_deg", "gait_speed", "falls", "afo_needed"):
        a = pd.to_numeric(m[f"{col}_e"].astype(object), errors="coerce").astype(float)
        b = pd.to_numeric(m[f"{col}_g"].astype(object), errors="coerce").astype(float)
        ok = np.isclose(a, b, rtol=0, atol=1e-9) | (a.isna() & b.isna())
        assert ok.all(), f"visits.{col} differs on {int((~ok).sum())} rows"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "duckdb"])
def test_fixture_cdm_gives_the_encoded_cohort(omop_maker: Any, omop_fixture: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    src = omop_maker.write(omop_fixture["tables"], tmp_path / ("cdm.duckdb" if fmt == "duckdb" else "cdm"), fmt)
    result = import_omop(src, tmp_path / "cohort", pseudonymise_ids=False)
    attrition = dict(zip(result.attrition["step"], result.attrition["excluded"]))
    expected = omop_fixture["expected_attrition"]
    assert result.attrition["remaining"].iloc[0] == expected["entered"]
    assert result.attrition["remaining"].iloc[-1] == expected["included"]
    for step, n in expected.items():
        if step not in ("entered", "included"):
            assert attrition[step] == n, step
    cohort = load_cohort(result.path)
    _compare_patients(omop_fixture["expected_patients"], cohort.patients)
    _compare_visits(omop_fixture["expected_visits"], cohort.visits)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["generator"]["name"] == "footdrop_outcomes.sources.import_omop"
    assert manifest["source_record"]["attrition"][-1]["remaining"] == expected["included"]
    for name, digest in manifest["source_sha256"].items():  # checksums of the CDM files themselves
        path = Path(manifest["source"][name])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not any(p.name.startswith(".") or p.name.startswith("_") for p in result.path.iterdir())
    assert result.handled["omop"]["causes_resolved_by_precedence"] == 2
    assert result.handled["omop"]["visit_measurements_after_followup_dropped"] == 1


def test_bad_input_is_refused_naming_table_column_and_rows(omop_maker: Any, omop_fixture: dict[str, Any], tmp_path: Path) -> None:
    tables = {k: v.copy() for k, v in omop_fixture["tables"].items()}
    vocab = omop_fixture["vocab"]
    meas, cond = tables["measurement"], tables["condition_occurrence"]
    # 1. a gait speed in milligrams
    gait = np.flatnonzero((meas["measurement_concept_id"] == vocab.of("gait_speed")).to_numpy())[0]
    meas.loc[gait, "unit_concept_id"] = vocab.unit("mg")
    # 2. a strength measurement five days before person 1's first foot-drop record
    onset = cond.loc[cond["person_id"] == 1, "condition_start_date"].min()
    early = meas.iloc[[0]].assign(measurement_id=len(meas) + 1, person_id=1, measurement_concept_id=vocab.of("dorsiflexion_mrc"),
                                  measurement_date=onset - pd.Timedelta(days=5), value_as_number=3.0)
    tables["measurement"] = pd.concat([meas, early], ignore_index=True)
    # 3. person 2 without an observation period
    tables["observation_period"] = tables["observation_period"][tables["observation_period"]["person_id"] != 2]
    entry2 = int(cond.index[(cond["person_id"] == 2)].min())
    src = omop_maker.write(tables, tmp_path / "cdm", "csv")
    with pytest.raises(CohortValidationError) as err:
        import_omop(src, tmp_path / "cohort")
    f = err.value.failures.set_index(["table", "column"])
    assert f.loc[("measurement", "unit_concept_id"), "rows"] == str(gait + 2)  # CSV line: header is line 1
    assert f.loc[("measurement", "measurement_date"), "rows"] == str(len(tables["measurement"]) + 1)
    assert f.loc[("condition_occurrence", "condition_start_date"), "rows"] == str(entry2 + 2)
    assert "before the cohort entry" in f.loc[("measurement", "measurement_date"), "problem"]
    assert str(onset - pd.Timedelta(days=5))[:10] not in str(err.value)
    assert not (tmp_path / "cohort").exists()
    # measurements before onset may be ignored instead (and are counted)
    tables["measurement"].loc[gait, "unit_concept_id"] = vocab.unit("m/s")
    tables["observation_period"] = omop_fixture["tables"]["observation_period"]
    src = omop_maker.write(tables, tmp_path / "cdm2", "parquet")
    result = import_omop(src, tmp_path / "cohort", options=OmopOptions(before_entry="ignore"))
    assert result.handled["omop"]["measurements_before_onset_ignored"] == 1


def test_two_causes_excluded_on_request_and_concept_sets_editable(omop_maker: Any, omop_fixture: dict[str, Any], tmp_path: Path) -> None:
    src = omop_maker.write(omop_fixture["tables"], tmp_path / "cdm", "parquet")
    result = import_omop(src, tmp_path / "a", options=OmopOptions(two_causes="exclude"))
    steps = dict(zip(result.attrition["step"], result.attrition["excluded"]))
    assert steps["more than one cause recorded"] == 2
    assert result.attrition["remaining"].iloc[-1] == omop_fixture["expected_attrition"]["included"] - 2
    # an edited concept set: stroke excluded from its own set -> its patients have no cause
    edited = tmp_path / "sets"
    edited.mkdir()
    items = load_concept_sets()["cause_stroke"]
    (edited / "cause_stroke.json").write_text(json.dumps({"items": [{**items[0], "isExcluded": True}]}))
    result = import_omop(src, tmp_path / "b", concept_sets=edited)
    n_stroke = int((omop_fixture["expected_patients"]["cause"] == "stroke").sum())
    steps = dict(zip(result.attrition["step"], result.attrition["excluded"]))
    # stroke patients lose their cause (the two-cause one keeps lumbar radiculopathy); of the persons
    # excluded by a rule, the two excluded after the cause step had stroke evidence only
    assert steps["no cause recorded"] == 1 + (n_stroke - 1) + 2
    (edited / "cause_strok.json").write_text("{}")
    with pytest.raises(ConfigError, match="cause_strok.json"):
        load_concept_sets(edited)


def test_round_trip_simulate_export_import(tmp_path: Path) -> None:
    cohort = simulate_cohort(150, seed=5)
    for fmt, tol in (("parquet", 1e-12), ("duckdb", 5e-4)):  # DuckDB's NUMERIC keeps 3 decimals
        cdm = export_omop(cohort, tmp_path / (f"cdm.{fmt}" if fmt == "duckdb" else f"cdm_{fmt}"), format=fmt)
        back = load_cohort(import_omop(cdm, tmp_path / f"cohort_{fmt}").path)
        p0, p1 = cohort.patients.reset_index(drop=True), back.patients.reset_index(drop=True)
        assert len(p0) == len(p1)
        for col in p0.columns.drop("patient_id"):
            a, b = p0[col], p1[col]
            if col == "age":
                a = a.clip(upper=90)  # the import top-codes ages (docs/privacy.md)
            if pd.api.types.is_float_dtype(a.dtype):
                assert np.allclose(a.astype(float), b.astype(float), atol=tol, equal_nan=True), col
            else:
                assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), col
        v0, v1 = cohort.visits.reset_index(drop=True), back.visits.reset_index(drop=True)
        assert len(v0) == len(v1)
        for col in v0.columns.drop("patient_id"):
            if pd.api.types.is_float_dtype(v0[col].dtype):
                assert np.allclose(v0[col].astype(float), v1[col].astype(float), atol=tol, equal_nan=True), col
            else:
                assert (v0[col].astype(str).to_numpy() == v1[col].astype(str).to_numpy()).all(), col


def test_shipped_ddl_is_the_official_file() -> None:
    from importlib import resources

    text = resources.files("footdrop_outcomes.sources").joinpath("cdm", "OMOPCDM_duckdb_5.4_ddl.sql").read_bytes()
    body = text.split(b"\n", 2)[2]  # after the two header lines naming the source
    assert hashlib.sha256(body).hexdigest() == UPSTREAM_DDL_SHA256


def test_unreadable_sources(tmp_path: Path, omop_maker: Any, omop_fixture: dict[str, Any]) -> None:
    with pytest.raises(CohortIOError, match="does not exist"):
        import_omop(tmp_path / "nothing", tmp_path / "out")
    tables = dict(omop_fixture["tables"])
    del tables["person"]
    src = omop_maker.write(tables, tmp_path / "cdm", "csv")
    with pytest.raises(CohortIOError, match="CDM table person is missing"):
        import_omop(src, tmp_path / "out")
    (tmp_path / "cdm" / "person.csv").write_text("person_id,gender_concept_id\n1,8507\n")
    with pytest.raises(CohortIOError, match="lacks column"):
        import_omop(src, tmp_path / "out")


def test_sources_layer_is_not_imported_below() -> None:
    root = Path(__file__).resolve().parents[2] / "src" / "footdrop_outcomes"
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).parts
        if rel[0] in ("sources", "cli.py", "studies", "report"):
            continue
        assert "footdrop_outcomes.sources" not in path.read_text(), path


def test_value_of_the_wrong_type_is_refused_without_showing_it(tmp_path: Path, omop_maker: Any, omop_fixture: dict[str, Any]) -> None:
    tables = dict(omop_fixture["tables"])
    op = tables["observation_period"].copy()
    op["observation_period_end_date"] = op["observation_period_end_date"].astype(str)
    op.loc[3, "observation_period_end_date"] = "2021-02-31"  # a date that does not exist, stored as text
    tables["observation_period"] = op
    src = omop_maker.write(tables, tmp_path / "cdm", "parquet")
    with pytest.raises(CohortIOError, match="not of its CDM v5.4 type") as err:
        import_omop(src, tmp_path / "out")
    assert "2021-02-31" not in str(err.value)
