"""Synthetic OMOP CDM v5.4 fixture for the OMOP import tests, built on the official DuckDB DDL.

``build(seed)`` makes a few dozen persons with random covariates and returns the CDM tables (each
inserted into a DuckDB database created with the official v5.4 DDL, so NOT NULL columns and
types are checked) together with what the import must find, worked out here from the choices
made while encoding (cohort units -> OMOP records), not by running the import:

* ``expected_patients`` / ``expected_visits``: the cohort values of every included person;
* ``expected_attrition``: entered, excluded by each rule, included.

Every rule of the import is exercised: entry through a descendant concept and through a
non-standard source concept, side codes, each cause within its window (lumbar radiculopathy
through ``Maps to`` and a descendant), two causes resolved by precedence, units (km/h, cm/s,
10-m walk time, mmol/mol, radians), same-day repeated grades (lowest kept), falls since the
previous visit, AFO need observed or from the device interval, surgery, treatment start,
death, dropout, a second observation period, a measurement after follow-up, and persons
excluded by each rule. ``write(tables, path, fmt)`` writes a CSV or Parquet folder or a DuckDB
file. Run as a script to write ``tests/data/omop/fixture.duckdb`` for a look with DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATA_END = dt.date(2024, 6, 30)
LOCAL = "Footdrop local"
EXTRA = {"fd_left": 900001, "lumbar_child": 900002}


def _ddl() -> str:
    text = resources.files("footdrop_outcomes.sources").joinpath("cdm", "OMOPCDM_duckdb_5.4_ddl.sql").read_text()
    return text.replace("@cdmDatabaseSchema", "main")


class _Vocab:
    def __init__(self) -> None:
        self.concepts: list[dict[str, Any]] = []
        self.ancestor: list[tuple[int, int]] = []
        self.maps: list[tuple[int, int]] = []
        self.by_code: dict[tuple[str, str], int] = {}
        folder = resources.files("footdrop_outcomes.sources").joinpath("concept_sets")
        self.sets: dict[str, list[int]] = {}
        next_id = 100
        for f in sorted(folder.iterdir(), key=lambda x: x.name):
            if not f.name.endswith(".json"):
                continue
            ids = []
            for item in json.loads(f.read_text())["items"]:
                c = item["concept"]
                key = (c["VOCABULARY_ID"], str(c["CONCEPT_CODE"]))
                if key not in self.by_code:
                    self.add(next_id, c["VOCABULARY_ID"], str(c["CONCEPT_CODE"]), c["STANDARD_CONCEPT"] == "S")
                    next_id += 1
                ids.append(self.by_code[key])
            self.sets[f.name[:-5]] = ids
        # every non-standard concept maps to a standard target (M21.37 to the SNOMED foot drop)
        fd = self.by_code[("SNOMED", "6077001")]
        for c in list(self.concepts):
            if c["standard_concept"] is None:
                if c["concept_code"] == "M21.37":
                    self.maps.append((c["concept_id"], fd))
                else:
                    target = self.add(next_id, "SNOMED", f"T{next_id}", True)
                    next_id += 1
                    self.maps.append((c["concept_id"], target))
        self.add(EXTRA["fd_left"], "SNOMED", "X900001", True)
        self.ancestor.append((fd, EXTRA["fd_left"]))
        lumbar = self.target(self.code("ICD10CM", "M54.16"))
        self.add(EXTRA["lumbar_child"], "SNOMED", "X900002", True)
        self.ancestor.append((lumbar, EXTRA["lumbar_child"]))
        for unit in ("m/s", "km/h", "cm/s", "s", "{score}", "%", "mmol/mol", "kg/m2", "deg", "rad", "mg"):
            self.add(next_id, "UCUM", unit, True)
            next_id += 1
        for cid, voc, code in ((8507, "Gender", "M"), (8532, "Gender", "F"), (4188539, "SNOMED", "373066001"),
                               (32879, "Type Concept", "OMOP4976882")):
            self.add(cid, voc, code, True)

    def add(self, cid: int, vocab: str, code: str, standard: bool) -> int:
        self.concepts.append({"concept_id": cid, "concept_name": f"{vocab} {code}", "domain_id": "Observation", "vocabulary_id": vocab,
                              "concept_class_id": "Undefined", "standard_concept": "S" if standard else None, "concept_code": code,
                              "valid_start_date": dt.date(1970, 1, 1), "valid_end_date": dt.date(2099, 12, 31)})
        self.by_code[(vocab, code)] = cid
        return cid

    def code(self, vocab: str, code: str) -> int:
        return self.by_code[(vocab, code)]

    def target(self, cid: int) -> int:
        return next(t for s, t in self.maps if s == cid)

    def of(self, set_name: str) -> int:
        return self.sets[set_name][0]

    def unit(self, code: str) -> int:
        return self.by_code[("UCUM", code)]


CAUSE_RECORD = {  # cause -> (table, concept set, day relative to onset)
    "post_surgical_spine": ("procedure_occurrence", "cause_spine_surgery", -40),
    "post_surgical_hip_knee": ("procedure_occurrence", "cause_hip_knee_arthroplasty", -20),
    "stroke": ("condition_occurrence", "cause_stroke", -10),
    "als": ("condition_occurrence", "cause_als", -800),
    "multiple_sclerosis": ("condition_occurrence", "cause_multiple_sclerosis", -2000),
    "lumbar_radiculopathy": ("condition_occurrence", "cause_lumbar_radiculopathy", 5),
    "peripheral_neuropathy": ("condition_occurrence", "cause_peripheral_neuropathy", -300),
    "peroneal_compression": ("condition_occurrence", "cause_peroneal_compression", 0),
}
SEVERITY = {0: "severe", 1: "severe", 2: "moderate", 3: "mild", 4: "mild"}


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.v = _Vocab()
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in (
            "person", "observation_period", "condition_occurrence", "procedure_occurrence", "device_exposure", "measurement",
            "observation", "death", "care_site")}
        self.patients: list[dict[str, Any]] = []
        self.visits: list[dict[str, Any]] = []
        self.attrition = {"entered": 0, "aged under 16 at onset": 0, "sex not recorded as female or male": 0, "no cause recorded": 0,
                          "no dorsiflexion strength within 30 days of onset": 0, "full strength (MRC 5) at the first measurement": 0}
        self.onset: dt.date = DATA_END
        self.pid = 0
        for k in (1, 2, 3):
            self.rows["care_site"].append({"care_site_id": 10 + k, "care_site_source_value": f"S0{k}"})

    # -- records --------------------------------------------------------------------------------
    def date(self, day: int) -> dt.date:
        return self.onset + dt.timedelta(days=int(day))

    def condition(self, cid: int, day: int, source: int | None = None) -> None:
        self.rows["condition_occurrence"].append({"condition_occurrence_id": len(self.rows["condition_occurrence"]) + 1, "person_id": self.pid,
                                                  "condition_concept_id": cid, "condition_start_date": self.date(day),
                                                  "condition_type_concept_id": 32879, "condition_source_concept_id": source})

    def procedure(self, cid: int, day: int) -> None:
        self.rows["procedure_occurrence"].append({"procedure_occurrence_id": len(self.rows["procedure_occurrence"]) + 1, "person_id": self.pid,
                                                  "procedure_concept_id": cid, "procedure_date": self.date(day),
                                                  "procedure_type_concept_id": 32879})

    def device(self, cid: int, day: int, end: int | None) -> None:
        self.rows["device_exposure"].append({"device_exposure_id": len(self.rows["device_exposure"]) + 1, "person_id": self.pid,
                                             "device_concept_id": cid, "device_exposure_start_date": self.date(day),
                                             "device_exposure_end_date": None if end is None else self.date(end),
                                             "device_type_concept_id": 32879})

    def measurement(self, cid: int, day: int, value: float | None, unit: str | None) -> int:
        self.rows["measurement"].append({"measurement_id": len(self.rows["measurement"]) + 1, "person_id": self.pid, "measurement_concept_id": cid,
                                         "measurement_date": self.date(day), "measurement_type_concept_id": 32879, "value_as_number": value,
                                         "unit_concept_id": None if unit is None else self.v.unit(unit)})
        return len(self.rows["measurement"])

    def observation(self, cid: int, day: int, value: float | None = None, value_concept: int | None = None) -> None:
        self.rows["observation"].append({"observation_id": len(self.rows["observation"]) + 1, "person_id": self.pid, "observation_concept_id": cid,
                                         "observation_date": self.date(day), "observation_type_concept_id": 32879, "value_as_number": value,
                                         "value_as_concept_id": value_concept})

    def cause_record(self, cause: str) -> None:
        table, set_name, day = CAUSE_RECORD[cause]
        cid = self.v.of(set_name)
        if table == "procedure_occurrence":
            self.procedure(cid, day)
        elif cause == "lumbar_radiculopathy":  # a descendant of the standard target of a non-standard item
            self.condition(EXTRA["lumbar_child"], day, source=cid)
        elif cause == "peroneal_compression":  # non-standard code: recorded as its source concept
            self.condition(self.v.target(cid), day, source=cid)
        else:
            self.condition(cid, day)

    # -- persons --------------------------------------------------------------------------------
    def person(self, *, age: int, gender: int, fu: int, end: str, care_site: int | None = 11) -> None:
        self.pid += 1
        end_date = DATA_END if end == "study_end" else DATA_END - dt.timedelta(days=int(200 + self.rng.integers(0, 300)))
        self.onset = end_date - dt.timedelta(days=fu)
        birth = self.onset - dt.timedelta(days=int(365.25 * age + self.rng.integers(1, 360)))
        exact = self.onset.year - birth.year - ((self.onset.month, self.onset.day) < (birth.month, birth.day))
        self.age = exact
        self.rows["person"].append({"person_id": self.pid, "gender_concept_id": gender, "year_of_birth": birth.year, "month_of_birth": birth.month,
                                    "day_of_birth": birth.day, "race_concept_id": 0, "ethnicity_concept_id": 0, "care_site_id": care_site})
        self.rows["observation_period"].append({"observation_period_id": len(self.rows["observation_period"]) + 1, "person_id": self.pid,
                                                "observation_period_start_date": self.date(-400), "observation_period_end_date": self.date(fu),
                                                "period_type_concept_id": 32879})

    def entry(self, side: str | None) -> None:
        v = self.v
        if side == "left":
            self.condition(EXTRA["fd_left"], 0, source=v.of("side_left"))
        elif side == "right":
            self.condition(v.code("SNOMED", "6077001"), 0, source=v.of("side_right"))
        elif side == "bilateral":
            self.condition(v.code("SNOMED", "6077001"), 0, source=v.of("side_right"))
            self.condition(v.code("SNOMED", "6077001"), 3, source=v.of("side_left"))
        else:  # no side: a non-standard ICD-10-CM code without a mapped concept
            self.condition(0, 0, source=v.code("ICD10CM", "M21.37"))
        self.condition(v.code("SNOMED", "6077001"), 60)  # a later record: entry is the first

    def included(self, k: int) -> None:
        rng, v = self.rng, self.v
        causes = list(CAUSE_RECORD)
        cause = causes[k % len(causes)]
        end = ("study_end", "dropout", "death")[k % 3]
        fu = int(rng.integers(400, 1400))
        sex = ("male", "female")[k % 2]
        self.person(age=int(rng.integers(20, 85)), gender=8507 if sex == "male" else 8532, fu=fu, end=end,
                    care_site=None if k == 5 else 11 + k % 3)
        side = ("left", "right", "bilateral", None)[k % 4]
        self.entry(side)
        self.cause_record(cause)
        followup = fu
        if end == "death":
            death_day = fu + 10 if k % 2 else fu
            self.rows["death"].append({"person_id": self.pid, "death_date": self.date(death_day), "death_type_concept_id": 32879})
            followup = death_day
        if k == 4:  # an earlier observation period that does not hold onset
            self.rows["observation_period"].append({"observation_period_id": len(self.rows["observation_period"]) + 1, "person_id": self.pid,
                                                    "observation_period_start_date": self.date(-3000),
                                                    "observation_period_end_date": self.date(-2000), "period_type_concept_id": 32879})
        # visits
        n_vis = int(rng.integers(3, 7))
        days = np.sort(rng.choice(np.arange(31, min(fu, 1000)), n_vis - 1, replace=False))
        days = [int(rng.integers(0, 25))] + [int(d) for d in days]
        grade = int(rng.integers(0, 5))
        baseline = grade
        afo_type = ("none", "rigid", "hinged", "carbon")[k % 4]
        afo_end = None if k % 8 < 4 else days[1]
        if afo_type != "none":
            self.device(v.of(f"afo_{afo_type}"), days[0], afo_end)
        observed_need = k % 2 == 0
        prev = -1
        mrc_cid, gait_cid, rom_cid, falls_cid, need_cid = (v.of(s) for s in ("dorsiflexion_mrc", "gait_speed", "rom_dorsiflexion", "falls", "afo_needed"))
        for j, day in enumerate(days):
            if j:
                grade = min(5, grade + int(rng.integers(0, 2)))
            self.measurement(mrc_cid, day, float(grade), "{score}" if j % 2 else None)
            shown = grade
            if j == 1:  # a second, lower grade the same day: the lowest is kept
                self.measurement(mrc_cid, day, float(max(grade - 1, 0)), "{score}")
                shown = max(grade - 1, 0)
            gait = None
            if j % 2 == 0:
                gait = round(float(rng.uniform(0.3, 1.5)), 2)
                unit = ("m/s", "km/h", "cm/s", "s")[(k + j) % 4]
                # NUMERIC is DECIMAL(18,3) in the DuckDB DDL: the stored value has 3 decimals
                raw = round({"m/s": gait, "km/h": gait * 3.6, "cm/s": gait * 100, "s": 10 / gait}[unit], 3)
                gait = {"m/s": raw, "km/h": raw / 3.6, "cm/s": raw / 100, "s": 10 / raw}[unit]
                self.measurement(gait_cid, day, raw, unit)
            rom = None
            if j % 3 == 1:
                rom = float(rng.integers(-10, 20))
                unit = ("deg", "rad")[k % 2]
                raw = round(rom if unit == "deg" else rom / 57.29577951308232, 3)
                rom = raw if unit == "deg" else raw * 57.29577951308232
                self.measurement(rom_cid, day, raw, unit)
            falls = 0
            if j % 2 == 1:
                n1 = int(rng.integers(1, 3))
                self.observation(falls_cid, int(rng.integers(prev + 1, day + 1)), float(n1))
                self.observation(falls_cid, day, None)  # a record without a count is one fall
                falls = n1 + 1
            if observed_need:
                need = bool(rng.integers(0, 2))
                self.observation(need_cid, day, None, 4188539 if need else 0) if j % 2 else self.observation(need_cid, day, float(need))
            else:
                need = afo_type != "none" and day >= days[0] and (afo_end is None or day <= afo_end)
            self.visits.append({"patient_id": str(self.pid), "day": day, "mrc": shown, "rom_deg": rom, "gait_speed": gait,
                                "falls": falls, "afo_needed": need})
            prev = day
        if k == 3:  # a measurement after the end of follow-up is dropped
            self.measurement(mrc_cid, followup + 5, 4.0, None)
        # covariates
        diabetes = k % 3 == 1
        if diabetes:
            self.condition(v.of("diabetes"), -100)
        hba1c = None
        if k % 4 != 3:
            hba1c = round(float(rng.uniform(5, 9)), 1)
            self.measurement(v.of("hba1c"), -50, 12.0, "%")  # older value: the latest up to day 30 wins
            if k % 2:
                self.measurement(v.of("hba1c"), 10, hba1c, "%")
            else:
                raw = round((hba1c - 2.15) * 10.929, 3)
                hba1c = raw / 10.929 + 2.15
                self.measurement(v.of("hba1c"), 10, raw, "mmol/mol")
            self.measurement(v.of("hba1c"), 200, 11.0, "%")  # after the window: ignored
        bmi = round(float(rng.uniform(19, 35)), 1)
        self.measurement(v.of("bmi"), 0, bmi, "kg/m2")
        smoking = (None, "never", "former", "current")[k % 4]
        if smoking:
            self.observation(v.of(f"smoking_{smoking}"), -20)
        tx = None
        if k % 3 == 0:
            tx = days[0] + 2
            self.procedure(v.of("treatment_start"), tx)
        home, physio, fes = k % 2 == 0, k % 3 != 2, k % 5 == 0
        if home:
            self.procedure(v.of("home_exercise"), days[0])
        if physio:
            self.procedure(v.of("supervised_physio"), days[0])
        if fes:
            self.device(v.of("fes"), days[0], None)
        surgery, surgery_day = "none", None
        if k % 7 == 3:
            surgery, surgery_day = ("decompression", "tendon_transfer")[k % 2], 100
            self.procedure(v.of(f"surgery_{surgery}"), surgery_day)
        cauda = k == 7
        if cauda:
            self.condition(0, 0, source=v.of("red_flag_cauda_equina"))
        worsening = k == 8
        if worsening:
            self.observation(v.of("red_flag_rapid_worsening"), 2)
        self.patients.append({
            "patient_id": str(self.pid), "age": min(self.age, 90), "sex": sex, "side": side, "cause": cause,
            "severity": SEVERITY[baseline], "baseline_mrc": baseline, "diabetes": diabetes, "hba1c": hba1c, "smoking": smoking, "bmi": bmi,
            "days_to_treatment": tx if tx is not None else days[0], "home_exercise": home, "supervised_physio": physio, "afo": afo_type,
            "fes": fes, "surgery": surgery, "site": "unknown" if k == 5 else f"S0{1 + k % 3}", "red_flag_cauda_equina": cauda,
            "red_flag_rapid_worsening": worsening, "followup_days": followup, "followup_end": end, "surgery_day": surgery_day})

    def two_causes(self, causes: tuple[str, str], winner: str) -> None:
        """An included person with evidence of two causes; the expected cause is ``winner``."""
        self.included(0)  # stroke-free base person (k = 0: post_surgical_spine)
        self.patients[-1]["cause"] = winner
        # replace the base person's cause record by the two given ones
        for table in ("procedure_occurrence", "condition_occurrence"):
            spine = self.v.of("cause_spine_surgery")
            self.rows[table] = [r for r in self.rows[table] if not (r["person_id"] == self.pid and r.get("procedure_concept_id") == spine)]
        for c in causes:
            self.cause_record(c)

    def excluded(self, rule: str) -> None:
        self.attrition[rule] += 1
        mrc = self.v.of("dorsiflexion_mrc")
        age = 12 if rule == "aged under 16 at onset" else 50
        gender = 0 if rule == "sex not recorded as female or male" else 8532
        self.person(age=age, gender=gender, fu=500, end="study_end")
        self.entry("left")
        if rule != "no cause recorded":
            self.cause_record("stroke")
        if rule == "no dorsiflexion strength within 30 days of onset":
            self.measurement(mrc, 45, 3.0, None)
        elif rule == "full strength (MRC 5) at the first measurement":
            self.measurement(mrc, 2, 5.0, None)
        else:
            self.measurement(mrc, 2, 3.0, None)

    def not_in_cohort(self) -> None:
        self.person(age=40, gender=8507, fu=300, end="study_end")
        self.cause_record("stroke")
        self.measurement(self.v.of("dorsiflexion_mrc"), 2, 3.0, None)


def build(seed: int = 20261202, n_included: int = 24) -> dict[str, Any]:
    """The fixture CDM (DataFrames per table, checked against the official DDL) and the expected cohort."""
    b = _Builder(seed)
    for k in range(n_included):
        b.included(k)
    b.two_causes(("stroke", "lumbar_radiculopathy"), "stroke")
    b.two_causes(("peripheral_neuropathy", "post_surgical_hip_knee"), "post_surgical_hip_knee")
    for rule in ("aged under 16 at onset", "sex not recorded as female or male", "no cause recorded",
                 "no dorsiflexion strength within 30 days of onset", "full strength (MRC 5) at the first measurement"):
        b.excluded(rule)
    for _ in range(3):
        b.not_in_cohort()
    tables = {name: pd.DataFrame(rows) for name, rows in b.rows.items()}
    v = b.v
    tables["concept"] = pd.DataFrame(v.concepts)
    std = [c["concept_id"] for c in v.concepts if c["standard_concept"] == "S"]
    anc = [(c, c, 0) for c in std] + [(a, d, 1) for a, d in v.ancestor]
    tables["concept_ancestor"] = pd.DataFrame(anc, columns=["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation"]).assign(
        max_levels_of_separation=lambda f: f["min_levels_of_separation"])
    tables["concept_relationship"] = pd.DataFrame([(s, t, "Maps to") for s, t in v.maps], columns=["concept_id_1", "concept_id_2", "relationship_id"]).assign(
        valid_start_date=dt.date(1970, 1, 1), valid_end_date=dt.date(2099, 12, 31))
    n_excluded = sum(n for r, n in b.attrition.items() if r != "entered")
    attrition = {"entered": len(b.patients) + n_excluded, **{r: n for r, n in b.attrition.items() if r != "entered"},
                 "included": len(b.patients)}
    checked = _check_against_ddl(tables)
    return {"tables": checked, "expected_patients": pd.DataFrame(b.patients), "expected_visits": pd.DataFrame(b.visits),
            "expected_attrition": attrition, "vocab": v}


def _check_against_ddl(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Insert every table into a DuckDB database made with the official DDL (NOT NULL, types), read it back in order."""
    import duckdb

    con = duckdb.connect()
    con.execute(_ddl())
    out = {}
    for name, frame in tables.items():
        con.register("_df", frame)
        con.execute(f"INSERT INTO main.{name} BY NAME SELECT * FROM _df")
        con.unregister("_df")
        back = con.execute(f"SELECT * FROM main.{name} ORDER BY rowid").df()
        kinds = dict(con.execute(f"SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '{name}'").fetchall())
        for col, kind in kinds.items():  # whole numbers stay whole in CSV files (DuckDB returns float for NULL-able ints)
            if kind in ("INTEGER", "BIGINT"):
                back[col] = back[col].astype("Int64")
            elif kind == "DATE":
                back[col] = pd.to_datetime(back[col]).dt.date.astype(object)
        out[name] = back
    con.close()
    return out


def write(tables: dict[str, pd.DataFrame], path: Path, fmt: str) -> Path:
    """Write the tables as a folder of CSV or Parquet files, or as a DuckDB file made with the official DDL."""
    if fmt == "duckdb":
        import duckdb

        con = duckdb.connect(str(path))
        con.execute(_ddl())
        for name, frame in tables.items():
            con.register("_df", frame)
            con.execute(f"INSERT INTO main.{name} BY NAME SELECT * FROM _df")
            con.unregister("_df")
        con.close()
        return path
    path.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(path / f"{name}.parquet", index=False)
        else:
            frame.to_csv(path / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    return path


if __name__ == "__main__":
    fixture = build()
    target = Path(__file__).with_name("fixture.duckdb")
    target.unlink(missing_ok=True)
    write(fixture["tables"], target, "duckdb")
