"""Make the second worked example: a referral clinic's extract with late first contact and gaps.

Run from the project root::

    python data/examples/make_referral_extract.py     # writes data/examples/referral_extract/

It simulates 600 patients with generator version 2 (seed 11), covariates missing at the generator's
default rates under MAR (``covariates_missing_in_tables=True``), and keeps what a referral clinic
would see: patients are first seen weeks after onset (``FirstSeenWeeks``), and patients who had
already recovered when first seen are not in the extract (they were never referred). Unknown values
are written the way sites write them ("not recorded", "9", "-99"). The layout is the one of
``make_site_extract.py``; import it with ``data/examples/mapping_referral.toml``::

    footdrop-outcomes import --mapping data/examples/mapping_referral.toml \\
      --patients data/examples/referral_extract/patients.csv \\
      --visits data/examples/referral_extract/visits.csv \\
      --adherence data/examples/referral_extract/adherence.csv --out reports/referral-import

The outcome report on the import then counts time at risk from first contact (late entry), and its
methods and missing-data pages say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate_v2 import SimulationConfigV2
from footdrop_outcomes.survival import survival_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_site_extract import site_layout, write_extract

N, SEED = 600, 11
HERE = Path(__file__).resolve().parent


def make(out: Path = HERE / "referral_extract") -> Path:
    cohort = simulate_cohort(N, seed=SEED, config=SimulationConfigV2(covariates_missing_in_tables=True))
    # a referral clinic never sees patients who recovered before their first visit
    f = survival_frame(cohort)
    seen_recovered = f["event"].to_numpy(bool) & (f["time"].to_numpy(float) <= f["entry"].to_numpy(float))
    keep = set(f.loc[~seen_recovered, "patient_id"].astype(str))
    cohort = cohort.subset(cohort.patients["patient_id"].astype(str).isin(keep))
    rng = np.random.default_rng(SEED)
    patients, visits, adherence = site_layout(cohort, rng)
    p = cohort.patients
    patients.insert(patients.columns.get_loc("WeeksToTx") + 1, "FirstSeenWeeks", (p["first_contact_day"].to_numpy(float) / 7).round(2))
    # unknown values as the site writes them
    patients["DM"] = patients["DM"].astype(object).where(p["diabetes"].notna().to_numpy(), "not recorded")
    patients["Smoker"] = patients["Smoker"].astype(object).where(p["smoking"].notna().to_numpy(), "9")
    for col, src in (("HbA1c_mmolmol", "hba1c"), ("BMI", "bmi"), ("WeeksToTx", "days_to_treatment")):
        patients[col] = patients[col].astype(object).where(p[src].notna().to_numpy(), "-99")
    return write_extract(patients, visits, adherence, out)


if __name__ == "__main__":
    print(f"wrote {make(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / 'referral_extract')}")
