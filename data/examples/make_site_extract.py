"""Make the worked example: a messy synthetic site extract with its own layout and codes.

Run from the project root::

    python data/examples/make_site_extract.py            # writes data/examples/site_extract/

It simulates 120 patients (seed 7) and rewrites them the way a hospital export might look:
semicolon-separated patients file, the site's own column names and codes, times in weeks,
HbA1c in mmol/mol, gait speed in km/h, AFO and FES wear in minutes, MRC grades with "+"/"-"
modifiers, visit rows shuffled, two visit rows repeated, a ward column to drop. Importing it with
``data/examples/mapping_example.toml`` gives back the simulated cohort (ages of 90 and over
top-coded, ids as the site wrote them, gait speed and HbA1c to rounding).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from footdrop_outcomes import simulate_cohort

N, SEED = 120, 7
HERE = Path(__file__).resolve().parent

CAUSE = {
    "peroneal_compression": "Common peroneal nerve palsy",
    "lumbar_radiculopathy": "L5 radiculopathy",
    "stroke": "CVA",
    "multiple_sclerosis": "MS",
    "als": "MND/ALS",
    "peripheral_neuropathy": "Peripheral neuropathy",
    "post_surgical_hip_knee": "Post THR/TKR",
    "post_surgical_spine": "Post spinal surgery",
}
AFO = {"none": "-", "rigid": "solid", "hinged": "articulated", "carbon": "carbon fibre"}
SURGERY = {"none": "0", "decompression": "DECOMP", "nerve_repair_graft": "NERVE", "tendon_transfer": "TPT"}
END = {"study_end": "completed", "dropout": "lost to follow-up", "death": "died"}
YN = {True: "Y", False: "N"}
STEMS = ("toe_lifts", "ankle_alphabet", "towel_slides", "band_dorsiflexion", "heel_walking", "calf_stretch")
SITE_STEM = {"toe_lifts": "ToeLift", "ankle_alphabet": "Alphabet", "towel_slides": "Towel",
             "band_dorsiflexion": "Band", "heel_walking": "HeelWalk", "calf_stretch": "CalfStretch"}


def _mrc_text(grades: pd.Series, rng: np.random.Generator) -> list[str]:
    out = []
    for g in grades.to_numpy():
        mod = rng.choice(["", "", "+", "-"]) if 1 <= g <= 4 else ""
        out.append(f"{g}{mod}")
    return out


def site_layout(cohort, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The cohort's three tables rewritten in the site's layout (also used by make_referral_extract.py)."""
    p, v, a = cohort.patients, cohort.visits, cohort.adherence
    ids = {pid: f"FD-{i + 1:04d}" for i, pid in enumerate(p["patient_id"].astype(str))}
    sites = {s: f"Clinic {chr(ord('A') + i)}" for i, s in enumerate(sorted(p["site"].astype(str).unique()))}
    patients = pd.DataFrame({
        "StudyNo": p["patient_id"].astype(str).map(ids),
        "Sex": p["sex"].astype(str).map({"female": "F", "male": "M"}),
        "AgeYears": p["age"],
        "Side": p["side"].astype(str).map({"left": "L", "right": "R", "bilateral": "Bilat"}),
        "Aetiology": p["cause"].astype(str).map(CAUSE),
        "Severity": p["severity"].astype(str).str.capitalize(),
        "TA_MRC_onset": _mrc_text(p["baseline_mrc"], rng),
        "DM": p["diabetes"].map(YN),
        "HbA1c_mmolmol": ((p["hba1c"] - 2.15) * 10.929).round(1),
        "Smoker": p["smoking"].astype(str).map({"never": "Never", "former": "Ex", "current": "Current"}),
        "BMI": p["bmi"],
        "WeeksToTx": (p["days_to_treatment"] / 7).round(2),
        "HEP": p["home_exercise"].map({True: "yes", False: "no"}),
        "Physio": p["supervised_physio"].astype(int),
        "AFO_type": p["afo"].astype(str).map(AFO),
        "FES": p["fes"].map(YN),
        "Surgery": p["surgery"].astype(str).map(SURGERY),
        "Clinic": p["site"].astype(str).map(sites),
        "RF_CES": p["red_flag_cauda_equina"].map(YN),
        "RF_Worsening": p["red_flag_rapid_worsening"].map(YN),
        "FU_weeks": (p["followup_days"] / 7).round(2),
        "EndReason": p["followup_end"].astype(str).map(END),
        "Ward": rng.choice(["W1", "W2", "OPD"], size=len(p)),
    })
    visits = pd.DataFrame({
        "StudyNo": v["patient_id"].astype(str).map(ids),
        "VisitWeek": (v["day"] / 7).round(2),
        "TA_MRC": _mrc_text(v["mrc"], rng),
        "AROM_deg": v["rom_deg"],
        "Walk_kmh": (v["gait_speed"] * 3.6).round(3),
        "Falls": v["falls"],
        "AFO_still_needed": v["afo_needed"].map(YN),
    })
    visits = pd.concat([visits, visits.iloc[[3, 10]]], ignore_index=True)  # two exact repeats
    visits = visits.sample(frac=1.0, random_state=SEED).reset_index(drop=True)  # rows out of order
    adherence = pd.DataFrame({"StudyNo": a["patient_id"].astype(str).map(ids), "DaySinceOnset": a["week"].astype(int) * 7})
    for stem in STEMS:
        adherence[f"{SITE_STEM[stem]}_Rx"] = a[f"{stem}_prescribed"]
        adherence[f"{SITE_STEM[stem]}_Done"] = a[f"{stem}_completed"]
    for dev in ("afo", "fes"):
        adherence[f"{dev.upper()}_min_Rx"] = (a[f"{dev}_hours_prescribed"].astype("float64") * 60).round(1)
        adherence[f"{dev.upper()}_min_worn"] = (a[f"{dev}_hours"].astype("float64") * 60).round(1)
    return patients, visits, adherence


def write_extract(patients: pd.DataFrame, visits: pd.DataFrame, adherence: pd.DataFrame, out: Path) -> Path:
    """Write the three files the way the site exports them."""
    out.mkdir(parents=True, exist_ok=True)
    patients.to_csv(out / "patients.csv", sep=";", index=False)
    visits.to_csv(out / "visits.csv", index=False)
    adherence.to_csv(out / "adherence.csv", index=False, na_rep="NA")
    return out


def make(out: Path = HERE / "site_extract") -> Path:
    cohort = simulate_cohort(N, seed=SEED)
    return write_extract(*site_layout(cohort, np.random.default_rng(SEED)), out)


if __name__ == "__main__":
    print(f"wrote {make(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / 'site_extract')}")
