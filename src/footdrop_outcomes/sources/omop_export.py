"""Cohort -> OMOP CDM v5.4 tables (CSV, Parquet or a DuckDB file), e.g. to load synthetic cohorts into OHDSI tools.

:func:`export_omop` writes every table of the official CDM v5.4 DDL that the cohort fills, with
every DDL column (unused ones empty), plus a small vocabulary (``concept``,
``concept_ancestor``, ``concept_relationship``, ``vocabulary``) holding the concepts of the
package's concept sets. :func:`~footdrop_outcomes.sources.import_omop` reads the export back to
the same patients and visits (the round trip is tested).

Calendar dates are made up: the cohort holds days since onset only, so each patient is placed
on a calendar that ends on ``data_end`` (patients followed to the end of the study end their
observation on that day; dropouts and deaths a year earlier). The dates carry no information
beyond the days since onset.

Concept ids: the shipped concept sets name concepts by vocabulary and code. The export gives
each concept an id of 2,000,000,000 or more (the CDM's range for local concepts), writes it to
its ``concept`` table, and keeps the code in the events' ``*_source_value`` columns; OMOP gender
(8507, 8532) and answer (4188539 "Yes") concepts keep their standard ids. Weekly adherence has
no CDM table and is not exported.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from footdrop_outcomes._files import (
    discard,
    make_parents,
    move_into_place,
    refuse_symlink,
    staged_directory,
    staging_file,
)
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.errors import CohortIOError, ConfigError
from footdrop_outcomes.sources._cdm import cdm_columns, cdm_ddl
from footdrop_outcomes.sources.concepts import load_concept_sets
from footdrop_outcomes.sources.omop import FEMALE, MALE

__all__ = ["LOCAL_CONCEPT_START", "export_omop"]

#: First concept id given to the export's own concepts (CDM convention: local concepts >= 2e9).
LOCAL_CONCEPT_START = 2_000_000_001
_UNITS = ("{score}", "m/s", "deg", "%", "kg/m2")
_CAUSE_SET = {
    "peroneal_compression": "cause_peroneal_compression", "lumbar_radiculopathy": "cause_lumbar_radiculopathy",
    "stroke": "cause_stroke", "multiple_sclerosis": "cause_multiple_sclerosis", "als": "cause_als",
    "peripheral_neuropathy": "cause_peripheral_neuropathy", "post_surgical_hip_knee": "cause_hip_knee_arthroplasty",
    "post_surgical_spine": "cause_spine_surgery",
}
Format = Literal["csv", "parquet", "duckdb"]


class _Vocab:
    """Concepts of the export: one id per (vocabulary, code)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        sets = load_concept_sets()
        self.first: dict[str, dict[str, Any]] = {}
        for name, items in sets.items():
            for item in items:
                c = item["concept"]
                cid = self.add(c["VOCABULARY_ID"], str(c["CONCEPT_CODE"]), c.get("CONCEPT_NAME", ""), c.get("DOMAIN_ID", ""),
                               c.get("STANDARD_CONCEPT"))
                self.first.setdefault(name, {"id": cid, "code": str(c["CONCEPT_CODE"]), "standard": c.get("STANDARD_CONCEPT") == "S"})
        for unit in _UNITS:
            self.add("UCUM", unit, unit, "Unit", "S")

    def add(self, vocab: str, code: str, name: str, domain: str, standard: str | None) -> int:
        key = (vocab, code)
        if key not in self.rows:
            self.rows[key] = {"concept_id": LOCAL_CONCEPT_START + len(self.rows), "concept_name": name[:255], "domain_id": domain or "Metadata",
                              "vocabulary_id": vocab, "concept_class_id": "Undefined", "standard_concept": "S" if standard == "S" else None,
                              "concept_code": code, "valid_start_date": dt.date(1970, 1, 1), "valid_end_date": dt.date(2099, 12, 31),
                              "invalid_reason": None}
        return int(self.rows[key]["concept_id"])

    def unit(self, code: str) -> int:
        return int(self.rows[("UCUM", code)]["concept_id"])

    def concept(self) -> pd.DataFrame:
        extra = [{"concept_id": cid, "concept_name": name, "domain_id": dom, "vocabulary_id": voc, "concept_class_id": cls,
                  "standard_concept": "S", "concept_code": code, "valid_start_date": dt.date(1970, 1, 1),
                  "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None}
                 for cid, name, dom, voc, cls, code in ((MALE, "MALE", "Gender", "Gender", "Gender", "M"),
                                                        (FEMALE, "FEMALE", "Gender", "Gender", "Gender", "F"),
                                                        (4188539, "Yes", "Meas Value", "SNOMED", "Qualifier Value", "373066001"),
                                                        (32879, "Registry", "Type Concept", "Type Concept", "Type Concept", "OMOP4976882"))]
        return pd.DataFrame(list(self.rows.values()) + extra)


def _frame(table: str, data: dict[str, Any], n: int) -> pd.DataFrame:
    """A CDM table with every DDL column, in DDL order (unset columns empty)."""
    cols = {}
    for col, (kind, _req) in cdm_columns()[table].items():
        if col in data:
            cols[col] = data[col]
        else:
            k = kind.lower()
            dtype = "Int64" if k in ("integer", "int", "bigint") else "float64" if k.startswith("numeric") or k == "float" else "object"
            cols[col] = pd.Series([None] * n, dtype=dtype)
    return pd.DataFrame(cols)


def export_omop(
    cohort: Cohort,
    out: str | os.PathLike[str],
    *,
    format: Format = "csv",
    data_end: dt.date = dt.date(2024, 12, 31),
    overwrite: bool = False,
) -> Path:
    """Write a cohort as OMOP CDM v5.4 tables.

    Parameters
    ----------
    cohort : Cohort
        Any cohort (simulated or imported).
    out : path-like
        A folder (``format="csv"`` or ``"parquet"``: one file per CDM table) or a DuckDB file
        (``format="duckdb"``, tables created with the official DDL). Written atomically.
    format : {"csv", "parquet", "duckdb"}
        Output format.
    data_end : datetime.date
        Last day of the made-up calendar (see the module notes).
    overwrite : bool
        Replace an existing output.

    Returns
    -------
    pathlib.Path
        ``out``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from footdrop_outcomes import simulate_cohort
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = export_omop(simulate_cohort(20, seed=1), pathlib.Path(d) / "cdm", format="parquet")
    ...     print(sorted(p.name for p in path.iterdir())[:3])
    ['care_site.parquet', 'concept.parquet', 'concept_ancestor.parquet']
    """
    if format not in ("csv", "parquet", "duckdb"):
        raise ConfigError(f"format={format!r} is not allowed; use 'csv', 'parquet' or 'duckdb'")
    target = Path(out)
    refuse_symlink(target)
    if target.exists() and not overwrite:
        raise CohortIOError(f"{target} already exists; choose another path, or replace it with overwrite=True (CLI: --overwrite)")
    tables = _build(cohort, data_end)
    if format == "duckdb":
        import duckdb

        created = make_parents(target)
        tmp = staging_file(target, suffix=".duckdb")
        try:
            tmp.unlink()  # DuckDB creates its own file
            con = duckdb.connect(str(tmp))
            con.execute(cdm_ddl("main"))
            for name, frame in tables.items():
                con.register("_df", frame)
                con.execute(f"INSERT INTO main.{name} BY NAME SELECT * FROM _df")
                con.unregister("_df")
            con.close()
            wal = Path(str(tmp) + ".wal")
            if wal.exists():
                wal.unlink()
            move_into_place(tmp, target)
        except BaseException:
            discard(tmp)
            from footdrop_outcomes._files import remove_created

            remove_created(created)
            raise
        return target
    with staged_directory(target) as tmp:
        for name, frame in tables.items():
            if format == "parquet":
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            else:
                frame.to_csv(tmp / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    return target


def _build(cohort: Cohort, data_end: dt.date) -> dict[str, pd.DataFrame]:
    v = _Vocab()
    p = cohort.patients.reset_index(drop=True)
    n = len(p)
    person_id = np.arange(1, n + 1, dtype=np.int64)
    pid_of = dict(zip(p["patient_id"].astype(str), person_id))
    fu = p["followup_days"].to_numpy(dtype=np.int64)
    end = np.datetime64(data_end, "D")
    shift = np.where(p["followup_end"].astype(str).to_numpy() == "study_end", 0, 365)
    onset = end - shift.astype("timedelta64[D]") - fu.astype("timedelta64[D]")

    def date(pids: np.ndarray, days: np.ndarray) -> pd.Series:
        import pyarrow as pa

        when = onset[np.asarray(pids, dtype=np.int64) - 1] + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
        return pd.Series(pa.array(when.astype("datetime64[D]")), dtype=pd.ArrowDtype(pa.date32()))

    age = p["age"].to_numpy(dtype=np.int64)
    births = [dt.date(int(str(o)[:4]) - int(a), int(str(o)[5:7]), min(int(str(o)[8:10]), 28 if str(o)[5:7] == "02" else 31))
              for o, a in zip(onset, age)]
    sites = sorted(p["site"].astype(str).unique())
    site_id = {s: k + 1 for k, s in enumerate(sites)}
    reg = 32879  # type concept: Registry
    person = _frame("person", {
        "person_id": person_id, "gender_concept_id": np.where(p["sex"].astype(str) == "male", MALE, FEMALE),
        "year_of_birth": [b.year for b in births], "month_of_birth": [b.month for b in births], "day_of_birth": [b.day for b in births],
        "race_concept_id": 0, "ethnicity_concept_id": 0, "care_site_id": [site_id[s] for s in p["site"].astype(str)]}, n)
    care_site = _frame("care_site", {"care_site_id": list(site_id.values()), "care_site_source_value": list(site_id)}, len(site_id))
    obs = _frame("observation_period", {"observation_period_id": person_id, "person_id": person_id,
                                        "observation_period_start_date": date(person_id, np.zeros(n)),
                                        "observation_period_end_date": date(person_id, fu), "period_type_concept_id": reg}, n)
    died = p["followup_end"].astype(str).to_numpy() == "death"
    death = _frame("death", {"person_id": person_id[died], "death_date": date(person_id[died], fu[died]),
                             "death_type_concept_id": reg}, int(died.sum()))

    events: dict[str, list[dict[str, Any]]] = {"condition_occurrence": [], "procedure_occurrence": [], "device_exposure": [],
                                               "measurement": [], "observation": []}

    def concept(set_name: str) -> tuple[int, int | None, str]:
        c = v.first[set_name]
        return (c["id"], None, c["code"]) if c["standard"] else (0, c["id"], c["code"])

    def add(table: str, set_name: str, pids: np.ndarray, days: np.ndarray, **extra: Any) -> None:
        if len(pids) == 0:
            return
        cid, src, code = concept(set_name)
        if extra.pop("entry", False):  # the foot-drop record: standard concept, side code as its source concept
            cid = v.first["foot_drop"]["id"]
        events[table].append({"person_id": pids, "day": np.asarray(days, dtype=np.int64), "cid": cid, "src": src, "code": code, **extra})

    zero = np.zeros(n, dtype=np.int64)
    dtt = np.minimum(p["days_to_treatment"].to_numpy(dtype=np.int64), fu)
    side = p["side"].astype(str).to_numpy()
    for s, sets in (("left", ["side_left"]), ("right", ["side_right"]), ("bilateral", ["side_left", "side_right"])):
        for set_name in sets:
            m = side == s
            add("condition_occurrence", set_name, person_id[m], zero[m], entry=True)
    cause = p["cause"].astype(str).to_numpy()
    for c, set_name in _CAUSE_SET.items():
        m = cause == c
        surgical = c.startswith("post_surgical")
        add("procedure_occurrence" if surgical else "condition_occurrence", set_name, person_id[m], zero[m] - (30 if surgical else 0))
    for col, set_name in (("diabetes", "diabetes"), ("red_flag_cauda_equina", "red_flag_cauda_equina")):
        m = p[col].to_numpy(bool)
        add("condition_occurrence", set_name, person_id[m], zero[m])
    m = p["red_flag_rapid_worsening"].to_numpy(bool)
    add("observation", "red_flag_rapid_worsening", person_id[m], zero[m])
    for s in ("current", "former", "never"):
        m = p["smoking"].astype(str).to_numpy() == s
        add("observation", f"smoking_{s}", person_id[m], zero[m])
    for col, set_name, unit in (("hba1c", "hba1c", "%"), ("bmi", "bmi", "kg/m2")):
        vals = p[col].to_numpy(dtype="float64", na_value=np.nan)
        m = np.isfinite(vals)
        add("measurement", set_name, person_id[m], zero[m], value=vals[m], unit=v.unit(unit))
    add("measurement", "dorsiflexion_mrc_onset", person_id, zero, value=p["baseline_mrc"].to_numpy(dtype="float64"), unit=v.unit("{score}"))
    add("procedure_occurrence", "treatment_start", person_id, p["days_to_treatment"].to_numpy(dtype=np.int64))
    for col, set_name in (("home_exercise", "home_exercise"), ("supervised_physio", "supervised_physio")):
        m = p[col].to_numpy(bool)
        add("procedure_occurrence", set_name, person_id[m], dtt[m])
    m = p["fes"].to_numpy(bool)
    add("device_exposure", "fes", person_id[m], dtt[m], end=fu[m])
    for t in ("rigid", "hinged", "carbon"):
        m = p["afo"].astype(str).to_numpy() == t
        add("device_exposure", f"afo_{t}", person_id[m], dtt[m], end=fu[m])
    for t in ("decompression", "nerve_repair_graft", "tendon_transfer"):
        m = p["surgery"].astype(str).to_numpy() == t
        add("procedure_occurrence", f"surgery_{t}", person_id[m], dtt[m])
    vis = cohort.visits
    vp = np.array([pid_of[str(x)] for x in vis["patient_id"].astype(str)], dtype=np.int64)
    vd = vis["day"].to_numpy(dtype=np.int64)
    add("measurement", "dorsiflexion_mrc", vp, vd, value=vis["mrc"].to_numpy(dtype="float64"), unit=v.unit("{score}"))
    for col, set_name, unit in (("gait_speed", "gait_speed", "m/s"), ("rom_deg", "rom_dorsiflexion", "deg")):
        vals = vis[col].to_numpy(dtype="float64", na_value=np.nan)
        m = np.isfinite(vals)
        add("measurement", set_name, vp[m], vd[m], value=vals[m], unit=v.unit(unit))
    falls = vis["falls"].to_numpy(dtype="float64")
    m = falls > 0
    add("observation", "falls", vp[m], vd[m], value=falls[m])
    add("observation", "afo_needed", vp, vd, value=vis["afo_needed"].to_numpy(bool).astype("float64"))

    out: dict[str, pd.DataFrame] = {"person": person, "observation_period": obs, "death": death, "care_site": care_site}
    spec = {"condition_occurrence": ("condition", "condition_start_date", "condition_type_concept_id"),
            "procedure_occurrence": ("procedure", "procedure_date", "procedure_type_concept_id"),
            "device_exposure": ("device", "device_exposure_start_date", "device_type_concept_id"),
            "measurement": ("measurement", "measurement_date", "measurement_type_concept_id"),
            "observation": ("observation", "observation_date", "observation_type_concept_id")}
    for table, parts in events.items():
        stem, date_col, type_col = spec[table]
        pids = np.concatenate([x["person_id"] for x in parts])
        days = np.concatenate([x["day"] for x in parts])
        k = len(pids)
        cid = np.concatenate([np.full(len(x["person_id"]), x["cid"]) for x in parts])
        src = pd.array(np.concatenate([np.full(len(x["person_id"]), -1 if x["src"] is None else x["src"]) for x in parts]), dtype="Int64")
        src[src == -1] = pd.NA
        code = np.concatenate([np.full(len(x["person_id"]), x["code"], dtype=object) for x in parts])
        data: dict[str, Any] = {f"{table}_id" if table != "device_exposure" else "device_exposure_id": np.arange(1, k + 1),
                                "person_id": pids, f"{stem}_concept_id": cid, date_col: date(pids, days),
                                type_col: reg, f"{stem}_source_value": code, f"{stem}_source_concept_id": src}
        if table == "device_exposure":
            ends = np.concatenate([x.get("end", np.zeros(len(x["person_id"]), dtype=np.int64)) for x in parts])
            data["device_exposure_end_date"] = date(pids, ends)
        if table in ("measurement", "observation"):
            data["value_as_number"] = np.concatenate([x.get("value", np.full(len(x["person_id"]), np.nan)) for x in parts])
        if table == "measurement":
            data["unit_concept_id"] = pd.array(np.concatenate([np.full(len(x["person_id"]), x.get("unit", 0)) for x in parts]), dtype="Int64")
        frame = _frame(table, data, k)
        order = np.lexsort((days, pids))
        frame = frame.iloc[order].reset_index(drop=True)
        frame[f"{table}_id" if table != "device_exposure" else "device_exposure_id"] = np.arange(1, k + 1)
        out[table] = frame
    concept_frame = v.concept()
    out["concept"] = _frame("concept", {c: concept_frame[c] for c in concept_frame.columns}, len(concept_frame))
    ids = concept_frame["concept_id"].to_numpy()
    out["concept_ancestor"] = _frame("concept_ancestor", {"ancestor_concept_id": ids, "descendant_concept_id": ids,
                                                          "min_levels_of_separation": 0, "max_levels_of_separation": 0}, len(ids))
    out["concept_relationship"] = _frame("concept_relationship", {}, 0)
    vocabs = sorted(concept_frame["vocabulary_id"].unique())
    out["vocabulary"] = _frame("vocabulary", {"vocabulary_id": vocabs, "vocabulary_name": vocabs, "vocabulary_concept_id": 0}, len(vocabs))
    return out
