"""Synthetic REDCap project for the REDCap import tests: data dictionary, raw and labels exports, mapping.

``build(seed, n)`` returns the files' contents and the cohort the import must find, worked out
here from the values chosen (not by running the import). The project is longitudinal: the
``enrolment`` form in event ``baseline_arm_1``, the ``closeout`` form in event
``closeout_arm_1`` (merged into the patient row), and ``clinic_visit`` a repeating instrument
in ``follow_up_arm_1``. It has two identifier fields (a name and a date of birth, values that
the privacy guard would refuse), checkboxes, radio / dropdown / yes-no fields, dates in three
validation types (ymd, dmy, mdy), MRC notations and a gait time for the 10-metre walk.
``write(files, folder)`` writes them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HEADER = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
          "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
          "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
          "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
          "Field Annotation"]
CAUSES = ["peroneal_compression", "lumbar_radiculopathy", "stroke", "multiple_sclerosis", "als", "peripheral_neuropathy",
          "post_surgical_hip_knee", "post_surgical_spine"]
# name, form, type, label, choices, validation, identifier
FIELDS = [
    ("record_id", "enrolment", "text", "Record ID", "", "", ""),
    ("full_name", "enrolment", "text", "Patient name", "", "", "y"),
    ("dob", "enrolment", "text", "Date of birth", "", "date_ymd", "y"),
    ("onset_date", "enrolment", "text", "Date of foot-drop onset", "", "date_ymd", ""),
    ("age", "enrolment", "text", "Age at onset (years)", "", "integer", ""),
    ("sex", "enrolment", "radio", "Sex", "1, Female | 2, Male", "", ""),
    ("side", "enrolment", "dropdown", "Affected side", "1, Left | 2, Right | 3, Both", "", ""),
    ("aetiology", "enrolment", "dropdown", "Cause", " | ".join(f"{k + 1}, {c.replace('_', ' ').title()}" for k, c in enumerate(CAUSES)), "", ""),
    ("mrc_onset", "enrolment", "dropdown", "Dorsiflexion MRC at onset", "0, 0 | 1, 1 | 2, 2 | 3, 3 | 4, 4", "", ""),
    ("diabetes", "enrolment", "yesno", "Diabetes", "", "", ""),
    ("hba1c", "enrolment", "text", "HbA1c (mmol/mol)", "", "number", ""),
    ("smoking", "enrolment", "radio", "Smoking", "1, Never | 2, Former | 3, Current", "", ""),
    ("bmi", "enrolment", "text", "BMI", "", "number", ""),
    ("treatment_start", "enrolment", "text", "First treatment", "", "date_dmy", ""),
    ("interventions", "enrolment", "checkbox", "Interventions", "1, Home exercise | 2, Supervised physiotherapy | 3, FES", "", ""),
    ("afo", "enrolment", "dropdown", "AFO", "0, None | 1, Rigid | 2, Hinged | 3, Carbon", "", ""),
    ("surgery", "enrolment", "dropdown", "Surgery", "0, None | 1, Decompression | 2, Nerve repair | 3, Tendon transfer", "", ""),
    ("site", "enrolment", "dropdown", "Site", "1, Site one | 2, Site two", "", ""),
    ("red_flags", "enrolment", "checkbox", "Red flags", "1, Cauda equina | 2, Rapid worsening", "", ""),
    ("comments", "enrolment", "notes", "Comments", "", "", ""),
    ("end_date", "closeout", "text", "End of follow-up", "", "date_ymd", ""),
    ("end_reason", "closeout", "radio", "Reason", "1, Study end | 2, Dropout | 3, Death", "", ""),
    ("visit_date", "clinic_visit", "text", "Visit date", "", "date_mdy", ""),
    ("ta_mrc", "clinic_visit", "text", "Tibialis anterior MRC", "", "", ""),
    ("rom", "clinic_visit", "text", "Dorsiflexion ROM (deg)", "", "number", ""),
    ("walk_time", "clinic_visit", "text", "10 m walk time (s)", "", "number", ""),
    ("falls", "clinic_visit", "text", "Falls since last visit", "", "integer", ""),
    ("afo_needed", "clinic_visit", "yesno", "AFO still needed", "", "", ""),
]
MAPPING = '''format_version = 1
description = "Synthetic REDCap project (test fixture)"

[options]
pseudonymise_ids = false

[redcap]
onset = "onset_date"
visits = "clinic_visit"

[patients]
drop = ["comments", "interventions___3", "red_flags___2"]

[patients.columns]
patient_id = "record_id"
age = "age"
sex = "sex"
side = "side"
cause = "aetiology"
baseline_mrc = "mrc_onset"
severity = "mrc_onset_severity"
diabetes = "diabetes"
hba1c = "hba1c"
smoking = "smoking"
bmi = "bmi"
days_to_treatment = "treatment_start"
home_exercise = "interventions___1"
supervised_physio = "interventions___2"
afo = "afo"
surgery = "surgery"
site = "site"
red_flag_cauda_equina = "red_flags___1"
followup_days = "end_date"
followup_end = "end_reason"

[patients.constants]
fes = false
red_flag_rapid_worsening = false

[patients.units]
hba1c = "mmol/mol"

[patients.codes.sex]
1 = "female"
2 = "male"

[patients.codes.side]
1 = "left"
2 = "right"
3 = "bilateral"

[patients.codes.cause]
{causes}

[patients.codes.severity]
1 = "severe"
2 = "moderate"
3 = "mild"

[patients.codes.smoking]
1 = "never"
2 = "former"
3 = "current"

[patients.codes.afo]
0 = "none"
1 = "rigid"
2 = "hinged"
3 = "carbon"

[patients.codes.surgery]
0 = "none"
1 = "decompression"
2 = "nerve_repair_graft"
3 = "tendon_transfer"

[patients.codes.site]
1 = "S01"
2 = "S02"

[patients.codes.followup_end]
1 = "study_end"
2 = "dropout"
3 = "death"

[visits.columns]
patient_id = "record_id"
day = "visit_date"
mrc = "ta_mrc"
rom_deg = "rom"
gait_speed = "walk_time"
falls = "falls"
afo_needed = "afo_needed"

[visits.units]
gait_speed = "s/10m"
'''
SEVERITY = {0: "severe", 1: "severe", 2: "moderate", 3: "mild", 4: "mild"}


def build(seed: int = 7, n: int = 12) -> dict[str, Any]:
    """Dictionary, raw and labels exports, mapping text, and the expected cohort."""
    rng = np.random.default_rng(seed)
    fields = {f[0]: f for f in FIELDS}
    choices = {f[0]: {c.split(",", 1)[0].strip(): c.split(",", 1)[1].strip() for c in f[4].split("|")} if f[4] else {}
               for f in FIELDS}
    rows: list[dict[str, Any]] = []
    patients, visits = [], []
    for i in range(n):
        rid = f"{i + 1}"
        onset = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 900)))
        fu = int(rng.integers(200, 700))
        mrc0 = int(rng.integers(0, 5))
        cause = CAUSES[i % len(CAUSES)]
        tx = int(rng.integers(0, 40))
        inter = [bool(rng.integers(0, 2)) for _ in range(3)]
        flags = [i == 2, i == 3]
        hba1c_mmol = None if i % 4 == 0 else round(float(rng.uniform(35, 75)), 1)
        end_reason = ("1", "2", "3")[i % 3]
        base = {"record_id": rid, "redcap_event_name": "baseline_arm_1", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
                "full_name": f"{['Ann', 'Bob', 'Cara'][i % 3]} {['Smith', 'Jones', 'Brown'][i % 3]}",
                "dob": (onset - dt.timedelta(days=365 * 50)).isoformat(), "onset_date": onset.isoformat(),
                "age": str(30 + i * 3), "sex": ("1", "2")[i % 2], "side": ("1", "2", "3")[i % 3],
                "aetiology": str(CAUSES.index(cause) + 1), "mrc_onset": str(mrc0), "diabetes": ("0", "1")[i % 2],
                "hba1c": "" if hba1c_mmol is None else str(hba1c_mmol), "smoking": ("1", "2", "3")[i % 3],
                "bmi": str(round(float(rng.uniform(19, 34)), 1)),
                "treatment_start": (onset + dt.timedelta(days=tx)).strftime("%d-%m-%Y"),
                **{f"interventions___{k + 1}": str(int(v)) for k, v in enumerate(inter)},
                "afo": str(i % 4), "surgery": str(i % 4 if i % 5 == 0 else 0), "site": ("1", "2")[i % 2],
                **{f"red_flags___{k + 1}": str(int(v)) for k, v in enumerate(flags)},
                "comments": "seen in clinic, doing well with the brace at home after the first month" if i % 2 else ""}
        close = {"record_id": rid, "redcap_event_name": "closeout_arm_1", "redcap_repeat_instrument": "", "redcap_repeat_instance": "",
                 "end_date": (onset + dt.timedelta(days=fu)).isoformat(), "end_reason": end_reason}
        rows += [base, close]
        days = sorted(int(d) for d in rng.choice(np.arange(0, fu + 1), int(rng.integers(2, 5)), replace=False))
        for j, day in enumerate(days):
            grade = min(5, mrc0 + j)
            notation = (f"{grade}", f"{grade}-", f"MRC {grade}", f"{grade}/5")[j % 4]
            walk = None if j % 3 == 2 else round(float(rng.uniform(7, 30)), 2)
            rom = None if j % 2 else int(rng.integers(-10, 20))
            falls = int(rng.integers(0, 3))
            need = bool(rng.integers(0, 2))
            rows.append({"record_id": rid, "redcap_event_name": "follow_up_arm_1", "redcap_repeat_instrument": "clinic_visit",
                         "redcap_repeat_instance": str(j + 1), "visit_date": (onset + dt.timedelta(days=day)).strftime("%m/%d/%Y"),
                         "ta_mrc": notation, "rom": "" if rom is None else str(rom), "walk_time": "" if walk is None else str(walk),
                         "falls": str(falls), "afo_needed": str(int(need))})
            visits.append({"patient_id": rid, "day": day, "mrc": grade, "rom_deg": rom,
                           "gait_speed": None if walk is None else 10 / walk, "falls": falls, "afo_needed": need})
        patients.append({"patient_id": rid, "age": 30 + i * 3, "sex": ("female", "male")[i % 2],
                         "side": ("left", "right", "bilateral")[i % 3], "cause": cause, "severity": SEVERITY[mrc0], "baseline_mrc": mrc0,
                         "diabetes": bool(i % 2), "hba1c": None if hba1c_mmol is None else hba1c_mmol / 10.929 + 2.15,
                         "smoking": ("never", "former", "current")[i % 3], "days_to_treatment": tx, "home_exercise": inter[0],
                         "supervised_physio": inter[1], "afo": ("none", "rigid", "hinged", "carbon")[i % 4],
                         "surgery": ("none", "decompression", "nerve_repair_graft", "tendon_transfer")[i % 4 if i % 5 == 0 else 0],
                         "site": ("S01", "S02")[i % 2], "red_flag_cauda_equina": flags[0], "followup_days": fu,
                         "followup_end": ("study_end", "dropout", "death")[i % 3]})
    columns = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    for f in FIELDS[1:]:
        if f[2] == "checkbox":
            columns += [f"{f[0]}___{c}" for c in choices[f[0]]]
        else:
            columns.append(f[0])
        if f[0] == "comments":
            columns.append("enrolment_complete")
    columns += ["closeout_complete", "clinic_visit_complete"]
    raw = pd.DataFrame(rows).reindex(columns=columns).fillna("")
    for form in ("enrolment", "closeout", "clinic_visit"):
        raw[f"{form}_complete"] = "2"
    cause_codes = "\n".join(f'{k + 1} = "{c}"' for k, c in enumerate(CAUSES))
    mapping = MAPPING.replace("{causes}", cause_codes)
    return {"dictionary": _dictionary_csv(), "raw": raw, "labels": _labels(raw, fields, choices), "mapping": mapping,
            "expected_patients": pd.DataFrame(patients), "expected_visits": pd.DataFrame(visits)}


def _dictionary_csv(fields: list[tuple[str, ...]] | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for name, form, kind, label, choices, validation, ident in fields or FIELDS:
        w.writerow([name, form, "", kind, label, choices, "", validation, "", "", ident, "", "", "", "", "", "", ""])
    # severity as a calculated field of the enrolment form, from the grade at onset
    w.writerow(["mrc_onset_severity", "enrolment", "", "dropdown", "Severity at onset", "1, severe | 2, moderate | 3, mild", "", "", "",
                "", "", "", "", "", "", "", "", ""])
    return buf.getvalue()


def _labels(raw: pd.DataFrame, fields: dict[str, tuple[str, ...]], choices: dict[str, dict[str, str]]) -> pd.DataFrame:
    out = {}
    for col in raw.columns:
        name = col.split("___")[0]
        if col == "record_id":
            out["Record ID"] = raw[col]
        elif col == "redcap_event_name":
            out["Event Name"] = raw[col].map({"baseline_arm_1": "Baseline (Arm 1: Main)", "closeout_arm_1": "Closeout (Arm 1: Main)",
                                              "follow_up_arm_1": "Follow-up (Arm 1: Main)"})
        elif col == "redcap_repeat_instrument":
            out["Repeat Instrument"] = raw[col].map({"clinic_visit": "Clinic Visit", "": ""})
        elif col == "redcap_repeat_instance":
            out["Repeat Instance"] = raw[col]
        elif col.endswith("_complete"):
            out[f"Complete?{col}"] = raw[col].map({"2": "Complete", "": ""})  # header made "Complete?" below
        elif "___" in col:
            code = col.split("___")[1]
            label = f"{fields[name][3]} (choice={choices[name][code]})"
            out[label] = raw[col].map({"1": "Checked", "0": "Unchecked", "": ""})
        elif fields[name][2] == "yesno":
            out[fields[name][3]] = raw[col].map({"1": "Yes", "0": "No", "": ""})
        elif choices.get(name):
            out[fields[name][3]] = raw[col].map({**choices[name], "": ""})
        else:
            out[fields[name][3]] = raw[col]
    frame = pd.DataFrame(out)
    frame.columns = ["Complete?" if c.startswith("Complete?") else c for c in frame.columns]  # as REDCap writes it
    return frame


def write(files: dict[str, Any], folder: Path, *, labels: bool = False) -> dict[str, Path]:
    """Write dictionary.csv, records.csv (raw or labels) and mapping.toml; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"dictionary": folder / "dictionary.csv", "records": folder / "records.csv", "mapping": folder / "mapping.toml"}
    paths["dictionary"].write_text(files["dictionary"])
    records = files["labels"] if labels else files["raw"]
    records = records.copy()
    if "mrc_onset" in records.columns:  # raw: the severity field REDCap would have calculated
        records.insert(records.columns.get_loc("mrc_onset") + 1, "mrc_onset_severity", _severity_codes(records["mrc_onset"]))
    elif "Dorsiflexion MRC at onset" in records.columns:
        sev = _severity_codes(records["Dorsiflexion MRC at onset"]).map({"1": "severe", "2": "moderate", "3": "mild", "": ""})
        records.insert(records.columns.get_loc("Dorsiflexion MRC at onset") + 1, "Severity at onset", sev)
    records.to_csv(paths["records"], index=False)
    paths["mapping"].write_text(files["mapping"])
    return paths


def _severity_codes(grades: pd.Series) -> pd.Series:
    return grades.map({"0": "1", "1": "1", "2": "2", "3": "3", "4": "3", "": ""}).fillna("")
