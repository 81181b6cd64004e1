"""Adherence by site (sites/comparison.py ``adherence_by_site``) against an independent computation (issue 21).

Its only test was a truth-recovery study of the difference over seeds, which looked at neither the
interval limits nor the flags nor the rule on the number of sites (mutation sample of session 7,
seed 1: the lower limit computed as ``diff + z se`` and "at least 3 sites" read as 4 survived).

Reference, written here from the documented definitions: each patient's share of prescribed
home-exercise sessions completed summed from the adherence table by a loop; the case-mix model fitted
by statsmodels OLS with its own coding of the covariates (the fitted values do not depend on the
coding); a site's observed and expected share are the means over its patients; the SE of a site mean
is the pooled within-site residual SD over the square root of its patients (degrees of freedom: the
patients less the model's columns less the sites' extra means); limits and flags at 95% and 99.8%
with z from scipy; sites of threshold or fewer patients are in the model and not shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.cohort import Cohort
from footdrop_outcomes.errors import FootdropError
from footdrop_outcomes.release import ReleasePolicy
from footdrop_outcomes.sites.comparison import adherence_by_site


def _reference(cohort, threshold: int) -> pd.DataFrame:
    a = cohort.adherence
    stems = sorted({c[: -len("_prescribed")] for c in a.columns if c.endswith("_prescribed") and not c.startswith(("afo", "fes"))})
    done: dict[str, float] = {}
    given: dict[str, float] = {}
    for row in a.itertuples(index=False):
        pid = str(row.patient_id)
        given[pid] = given.get(pid, 0.0) + sum(float(getattr(row, f"{s}_prescribed")) for s in stems)
        done[pid] = done.get(pid, 0.0) + sum(float(getattr(row, f"{s}_completed")) for s in stems)
    p = cohort.patients.assign(patient_id=cohort.patients["patient_id"].astype(str))
    p = p[p["patient_id"].map(lambda i: given.get(i, 0.0) > 0)]
    p = p.dropna(subset=["cause", "severity", "age", "diabetes", "smoking"]).copy()
    p["share"] = [done[i] / given[i] for i in p["patient_id"]]
    p["diab"] = p["diabetes"].astype(bool).astype(int)
    for c in ("cause", "severity", "smoking", "site"):
        p[c] = p[c].astype(str)
    fit = smf.ols("share ~ C(cause) + C(severity) + age + diab + C(smoking)", data=p).fit()
    p["fitted"] = fit.fittedvalues
    p["resid"] = p["share"] - p["fitted"]
    sites = sorted(p["site"].unique())
    within = sum(float(((g["resid"] - g["resid"].mean()) ** 2).sum()) for _, g in p.groupby("site"))
    rsd = np.sqrt(within / (len(p) - int(fit.df_model + 1) - (len(sites) - 1)))
    z95, z998 = stats.norm.ppf(0.975), stats.norm.ppf(0.999)
    rows = []
    for s in sites:
        g = p[p["site"] == s]
        if len(g) <= threshold:
            continue
        d = g["share"].mean() - g["fitted"].mean()
        se = rsd / np.sqrt(len(g))
        z = d / se
        rows.append({"site": s, "n": len(g), "observed": g["share"].mean(), "expected": g["fitted"].mean(), "difference": d,
                     "se": se, "lower": d - z95 * se, "upper": d + z95 * se, "z": z,
                     "flag_95": "above" if z > z95 else ("below" if z < -z95 else ""),
                     "flag_998": "above" if z > z998 else ("below" if z < -z998 else "")})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def cohort():
    from footdrop_outcomes.cohort.simulate import SimulationConfig

    c = simulate_cohort(900, seed=12, config=SimulationConfig(n_sites=6, site_adherence_logit_sd=0.5))
    p = c.patients.copy()
    p["site"] = p["site"].cat.add_categories(["S99"])
    p.loc[p.index[:7], "site"] = "S99"  # 7 patients: in the model, not shown
    p.loc[p.index[20:40], "diabetes"] = pd.NA  # 20 patients with a missing covariate: left out and counted
    return Cohort(p, c.visits, c.adherence, metadata=c.metadata, truth=c.truth)


def test_every_number_equals_the_independent_computation(cohort):
    r = adherence_by_site(cohort)
    ref = _reference(cohort, r.info["threshold"])
    s = r.summary
    assert "S99" not in s["site"].tolist() and r.info["sites_not_shown"] == 1
    with_sessions = cohort.adherence.filter(like="_prescribed").drop(columns=["afo_hours_prescribed", "fes_hours_prescribed"]).sum(axis=1)
    ids = set(cohort.adherence.loc[with_sessions.to_numpy() > 0, "patient_id"].astype(str))
    has = cohort.patients["patient_id"].astype(str).isin(ids).to_numpy()
    missing = cohort.patients["diabetes"].isna().to_numpy()
    assert r.info["n_missing"] == int((has & missing).sum()) > 0
    assert r.info["n"] == int((has & ~missing).sum())
    assert s["site"].tolist() == ref["site"].tolist() and s["n"].tolist() == ref["n"].tolist()
    for col in ("observed", "expected", "difference", "se", "lower", "upper", "z"):
        np.testing.assert_allclose(s[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=col)
    assert s["flag_95"].tolist() == ref["flag_95"].tolist() and s["flag_998"].tolist() == ref["flag_998"].tolist()
    assert r.info["residual_sd"] == pytest.approx(float(ref["se"].iloc[0] * np.sqrt(ref["n"].iloc[0])), rel=1e-9)
    # the flags are not all empty: the site effect on adherence shows (so the flag rule is exercised)
    assert (s["flag_95"] != "").any()


def test_three_sites_above_the_threshold_are_enough_and_two_are_not(cohort):
    p = cohort.patients
    keep = p["site"].astype(str).isin(sorted(p["site"].astype(str).unique())[:3]).to_numpy()
    ids = set(p.loc[keep, "patient_id"].astype(str))
    sub = Cohort(p[keep].copy(), cohort.visits[cohort.visits["patient_id"].astype(str).isin(ids)].copy(),
                 cohort.adherence[cohort.adherence["patient_id"].astype(str).isin(ids)].copy(), metadata=cohort.metadata)
    r = adherence_by_site(sub, policy=ReleasePolicy(10))
    assert len(r.summary) == 3
    with pytest.raises(FootdropError, match="at least 3 sites"):
        adherence_by_site(sub, policy=ReleasePolicy(int(r.summary["n"].min())))  # the smallest shown site drops out


def test_the_released_table_shows_the_reference_numbers_per_shown_site(cohort):
    """``SiteAdherence.released`` (comparison.py:404 survivor: it returned nothing): one row per shown
    site, its patients (all above the threshold, so shown as counts), the shares and O - E with its
    95% CI in points, and the flag, as computed independently; nothing masked."""
    from footdrop_outcomes.release import ReleasedTable

    r = adherence_by_site(cohort)
    ref = _reference(cohort, r.info["threshold"])
    rel = r.released()
    assert isinstance(rel, ReleasedTable)
    f = rel.frame
    assert f["site"].tolist() == ref["site"].tolist()
    assert f["patients"].tolist() == [str(n) for n in ref["n"]]
    assert f["observed"].tolist() == [f"{100 * v:.1f}%" for v in ref["observed"]]
    assert f["O - E (95% CI)"].tolist() == [f"{100 * d:+.1f} ({100 * a:+.1f} to {100 * b:+.1f})"
                                             for d, a, b in zip(ref["difference"], ref["lower"], ref["upper"], strict=True)]
    flags = [f"{b} 99.8%" if b else (f"{a} 95%" if a else "") for a, b in zip(ref["flag_95"], ref["flag_998"], strict=True)]
    assert f["flag"].tolist() == flags
    assert not rel.masked.to_numpy().any()
