"""Monte Carlo study of the adherence comparisons: bias, SE / empirical SD and coverage over many seeds.

Run (each part appends one row per seed and estimate to its CSV, so a study can be stopped and
resumed; ``--summarise`` prints the tables from the CSVs):

    python benchmarks/study_adherence.py pp        --seeds 1-200 --n 2000 --out /tmp/adh_pp.csv
    python benchmarks/study_adherence.py disc      --seeds 1-200 --n 2000 --out /tmp/adh_disc.csv
    python benchmarks/study_adherence.py weighting --seeds 1-200 --n 3000 --out /tmp/adh_w.csv
    python benchmarks/study_adherence.py effect    --seeds 1-20  --n 2500 --out /tmp/adh_effect.csv
    python benchmarks/study_adherence.py dose      --seeds 1-20  --n 3000 --out /tmp/adh_dose.csv
    python benchmarks/study_adherence.py gee       --seeds 1-30  --n 2000 --out /tmp/adh_gee.csv
    python benchmarks/study_adherence.py v2effect  --seeds 1-24  --n 2500 --out /tmp/adh_v2effect.csv
    python benchmarks/study_adherence.py misclass  --seeds 1-24  --n 2500 --out /tmp/adh_misclass.csv
    python benchmarks/study_adherence.py misclass_near --seeds 1-24 --n 2500 --out /tmp/adh_misclass_near.csv
    python benchmarks/study_adherence.py summarise /tmp/adh_pp.csv /tmp/adh_w.csv /tmp/adh_gee.csv [--markdown]

Parts
-----
pp
    Default generator. The AFO has no effect on recovery (truth: log HR 0, ITT and per protocol).
    ``itt_per_protocol`` (latent times, default options: no truncation, stacked-equation SEs);
    the ITT log HR again with weights truncated at 1%/99% (trim study); AFO discontinuation
    shares by program weeks 13, 26, 52 (Kaplan-Meier, plain indexing) against the generator's
    ``P(S <= t)``, ``S`` the abandonment time: per seed the model's expectation over the analysed
    patients, ``mean_i 1 - exp(-rate_i t)``; its mean over seeds is the population truth.
weighting
    Adherence effect switched off (exact Weibull latency). Recovering patients; supervised
    physiotherapy, propensity ``cause + severity``. Difference in mean log latent time (truth
    log time ratio -0.05) and the marginal Cox log HR (truth: per seed from each patient's two
    potential latent times, mean over seeds), untruncated and truncated at 1%/99%; overlap weights
    (``estimand="ATO"``): the mean difference has the same truth (the effect on log time is the
    same for everyone), the log HR's truth is the potential-outcome Cox fit weighted by
    ``e (1 - e)`` with the generator's own propensity.
effect
    Default generator; ``adherence_effect`` on visit-dated data (all but ALS: naive and
    time-varying Cox, interval-censored cure model) and on latent times of recovering patients,
    against the generator's log HR per 10 points of lagged cumulative adherence; CPU seconds.
dose
    Default generator; ``dose_response`` (latent times, recovering patients) at 30, 50 and 90%
    adherence against the generator's linear truth; share of seeds where the nonlinearity test
    rejects at 5% (its "coverage" column is meaningless; read ``mean``).
gee
    Default generator; independence GEE of weekly adherence (``adherence_trend``) against
    ``truth_marginal`` (the missing-data claim of docs/adherence.md section 6).
v2effect
    Generator v2 (issue 14/20). ``adherence_effect``'s recommended estimate (the cure model on
    visit intervals; the time-varying Cox model on latent times) on: all but ALS (the default,
    what the demo report shows); conservatively treated patients (no decompression or nerve
    repair: the patients v2's adherence effect acts on); the same with every visit's MRC replaced
    by the floor of the latent strength (no rater error) or with MRC >= 4 kept only when the next
    visit confirms it; all but ALS without rater error; operated patients alone (truth 0: v2 times
    their recovery from surgery with no adherence effect); latent times of recovering
    conservatively treated patients. Truth: the generator's 0.1398 (0 for operated patients);
    ``printed_truth`` is what ``summary["truth"]`` shows.
misclass
    Generator v2 (issue 20), conservatively treated patients: the cure model of the first MRC >= 4 against the
    misclassification-aware cure model (``survival/misclass.py``: hidden absorbing state, constant false- and
    missed-recovery rates estimated) on the rated MRC, with the independent second rating at every visit or at a
    random 20% of visits, on the latent grade (``mrc_true``), and on readings drawn from the misclassification model
    itself (the latent state read with rates 0.03 / 0.05; there both rates have a truth).
misclass_near
    As ``misclass``, rated MRC only: the exploratory extension (``near=0.5``, ``plateau=True``).

BLAS threads are limited to 1 (threadpoolctl): the machine is shared.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def _done(path: str) -> set[int]:
    if not os.path.exists(path):
        return set()
    return set(pd.read_csv(path, usecols=["seed"])["seed"].unique())


def _append(path: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(path, mode="a", header=not os.path.exists(path), index=False)


def part_pp(seed: int, n: int) -> list[dict]:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import (
        discontinuation,
        fit_propensity,
        itt_per_protocol,
        weighted_comparison,
    )
    from footdrop_outcomes.adherence.outcome import _prepare
    from footdrop_outcomes.cohort.simulate import SimulationConfig

    c = simulate_cohort(n, seed=seed)
    rows = []
    t0 = time.perf_counter()
    r = itt_per_protocol(c)
    secs = time.perf_counter() - t0
    for _, s in r.summary.iterrows():
        rows.append({"seed": seed, "part": "pp", "estimand": s["analysis"], "estimate": s["log_hr"], "se": s["se"],
                     "se_fixed": s["se_fixed_weights"], "truth": 0.0, "seconds": secs})
    frame, _, _, _ = _prepare(c, "latent", "all_but_als")
    frame = frame.reset_index(drop=True).assign(treated=(frame["afo"].astype(str) != "none").to_numpy())
    for trim in (None, 0.01):
        ps = fit_propensity(frame, "treated", "cause + severity", trim=trim)
        s = weighted_comparison(ps).summary.set_index("analysis").loc["weighted"]
        rows.append({"seed": seed, "part": "pp", "estimand": f"ITT (weighted_comparison, trim={trim})", "estimate": s["estimate"],
                     "se": s["se"], "se_fixed": s["se_fixed_weights"], "truth": 0.0,
                     "max_smd": ps.info["max_abs_smd_weighted"]})
    d = discontinuation(c, kind="afo", group=None, landmarks=(13, 26, 52))
    cfg = SimulationConfig()
    tp = c.truth.patients.assign(patient_id=c.truth.patients["patient_id"].astype(str)).set_index("patient_id")
    prop = tp["adherence_propensity"].reindex(d.times["patient_id"].astype(str)).to_numpy()
    rate = -math.log(1 - cfg.afo_abandoned_by_week_52) / 52 * np.exp(-0.4 * (prop - cfg.adherence_logit_mean))
    stop = tp["afo_abandon_week"].reindex(d.times["patient_id"].astype(str)).to_numpy()
    for _, s in d.summary[d.summary["statistic"] == "discontinued_by"].iterrows():
        t = float(s["time"])
        rows.append({"seed": seed, "part": "pp", "estimand": f"AFO discontinued by week {t:g}", "estimate": s["estimate"],
                     "lower": s["lower"], "upper": s["upper"], "truth_seed": float(np.mean(1 - np.exp(-rate * t))),
                     "truth_sample": float(np.mean(stop <= t))})
    return rows


DISC_VARIANTS = {"Kaplan-Meier (independent censoring)": None,
                 "IPCW, adherence history only": "",
                 "IPCW, severity + supervised + smoking (default)": "severity + supervised_physio + smoking"}


def part_disc(seed: int, n: int) -> list[dict]:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import discontinuation

    c = simulate_cohort(n, seed=seed)
    rows = []
    for label, cov in DISC_VARIANTS.items():
        c0 = time.process_time()
        if cov is None:
            d = discontinuation(c, kind="afo", group=None, landmarks=(13, 26, 52))
        else:
            d = discontinuation(c, kind="afo", group=None, landmarks=(13, 26, 52), censoring="ipcw", censoring_covariates=cov)
        cpu = time.process_time() - c0
        for _, s in d.summary[d.summary["statistic"] == "discontinued_by"].iterrows():
            rows.append({"seed": seed, "part": "disc", "estimand": f"AFO discontinued by week {s['time']:g}: {label}",
                         "estimate": s["estimate"], "lower": s["lower"], "upper": s["upper"], "se_ipcw": s.get("se", np.nan),
                         "truth_seed": s["truth"], "cpu_seconds": cpu,
                         "max_weight": d.info["ipcw_range"][1] if cov is not None else np.nan})
    return rows


def part_weighting(seed: int, n: int) -> list[dict]:
    from lifelines import CoxPHFitter

    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import fit_propensity, weighted_comparison
    from footdrop_outcomes.cohort.simulate import SimulationConfig

    c = simulate_cohort(n, seed=seed, config=SimulationConfig(adherence_log_hr=0.0))
    d = c.patients.assign(patient_id=c.patients["patient_id"].astype(str)).merge(
        c.truth.patients.assign(patient_id=c.truth.patients["patient_id"].astype(str)), on="patient_id")
    d = d[d["will_recover"]].reset_index(drop=True)
    d = d.assign(latent_weeks=d["latent_recovery_day"] / 7, event=True)
    truth_md = float(np.log(c.truth.value("recovery_latency", "supervised_physio", "time_ratio")))
    sup = d["supervised_physio"].to_numpy(float)
    tt = d["latent_weeks"].to_numpy()
    stacked = pd.DataFrame({"T": np.r_[tt * np.exp(truth_md * (1 - sup)), tt * np.exp(-truth_md * sup)], "E": 1,
                            "z": np.r_[np.ones(len(tt)), np.zeros(len(tt))]})
    truth_hr = float(CoxPHFitter().fit(stacked, "T", "E").params_["z"])
    # overlap population (ATO): the same potential outcomes, each patient weighted by e (1 - e) with the TRUE propensity
    par = c.truth.parameters
    a = par[par["component"] == "assignment_supervised_physio"].set_index("term")["value"]
    sev = d["severity"].astype(str).to_numpy()
    grp = d["cause"].astype(str).isin(["stroke", "post_surgical_hip_knee", "post_surgical_spine"]).to_numpy()
    e_true = 1 / (1 + np.exp(-(a["Intercept"] + a["severity[moderate]"] * (sev == "moderate") + a["severity[severe]"] * (sev == "severe")
                               + a["cause[stroke|post_surgical_hip_knee|post_surgical_spine]"] * grp)))
    h = e_true * (1 - e_true)
    truth_hr_ato = float(CoxPHFitter().fit(stacked.assign(h=np.r_[h, h]), "T", "E", weights_col="h").params_["z"])
    rows = []
    for label, opts in (("trim=None", {}), ("trim=0.01", {"trim": 0.01}), ("overlap weights, ATO", {"estimand": "ATO"})):
        ps = fit_propensity(d, "supervised_physio", "cause + severity", **opts)
        s = weighted_comparison(ps, duration_col="latent_weeks", outcome_col="latent_weeks", log_outcome=True).summary
        for _, r in s[s["analysis"] == "weighted"].iterrows():
            hr_truth = truth_hr_ato if opts.get("estimand") == "ATO" else truth_hr
            rows.append({"seed": seed, "part": "weighting", "estimand": f"{r['estimand']} ({label})", "estimate": r["estimate"],
                         "se": r["se"], "se_fixed": r["se_fixed_weights"],
                         "truth_seed": truth_md if r["estimand"] == "mean_difference" else hr_truth,
                         "max_smd": ps.info["max_abs_smd_weighted"]})
    return rows


def part_effect(seed: int, n: int) -> list[dict]:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import adherence_effect

    c = simulate_cohort(n, seed=seed)
    truth = c.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
    rows = []
    for outcome in ("observed", "latent"):
        t0 = time.perf_counter()
        c0 = time.process_time()
        e = adherence_effect(c, outcome=outcome)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        for _, r in e.summary.iterrows():
            if r["term"] == "current_adherence":
                continue
            rows.append({"seed": seed, "part": "effect", "estimand": f"{outcome}: {r['model']}", "estimate": r["log_hr_per_10pct"],
                         "se": r["se"], "truth": truth, "recommended": bool(r["recommended"]), "seconds": secs, "cpu_seconds": cpu})
    return rows


def part_dose(seed: int, n: int) -> list[dict]:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import dose_response

    c = simulate_cohort(n, seed=seed)
    r = dose_response(c, grid=[0.3, 0.5, 0.9])  # latent times of recovering patients (the default on synthetic cohorts)
    rows = [{"seed": seed, "part": "dose", "estimand": f"dose-response log HR at {x:.0%} vs 70%", "estimate": lh, "se": se,
             "truth": tr} for x, lh, se, tr in zip(r.summary["adherence"], r.summary["log_hr"], r.summary["se"], r.summary["truth_log_hr"])]
    rows.append({"seed": seed, "part": "dose", "estimand": "nonlinearity LR test p < 0.05 (truth linear)",
                 "estimate": float(r.info["p_nonlinear"] < 0.05), "truth": 0.05})
    return rows


def part_gee(seed: int, n: int) -> list[dict]:
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import adherence_trend

    c = simulate_cohort(n, seed=seed)
    rows = []
    for label, opts in GEE_VARIANTS.items():
        c0 = time.process_time()
        g = adherence_trend(c, **opts)
        cpu = time.process_time() - c0
        fixed = g.info.get("se_fixed_weights", {})
        for _, r in g.summary.iterrows():
            if r["term"] in ("program_week", "supervised_physio", "supervised_physio:program_week", "smoking[current]", "severity[severe]"):
                rows.append({"seed": seed, "part": "gee", "estimand": f"GEE {label}: {r['term']}", "estimate": r["estimate"],
                             "se": r["se"], "se_fixed": fixed.get(r["term"], np.nan), "truth_seed": r["truth_marginal"],
                             "cpu_seconds": cpu})
    return rows


GEE_VARIANTS = {"independence": {"cov_struct": "independence"},
                "IPW (default record-end model)": {"weights": "ipw"}}
# earlier runs (docs/adherence.md section 6) also had {"weights": "ipw", "dropout_covariates": "supervised_physio + smoking +
# severity + cause + days_to_treatment"} and a record-end model without the cumulative share x week interaction


OPERATED = ("decompression", "nerve_repair_graft")  # generator v2's treatment clock: recovery timed from surgery


def _true_mrc(cohort):
    """The cohort with every visit's MRC replaced by the floor of the latent strength (no rater error)."""
    import dataclasses

    tv = cohort.truth.visits
    visits = cohort.visits.assign(mrc=tv["mrc_true"].to_numpy())
    return dataclasses.replace(cohort, visits=visits)


def _confirmed_mrc(cohort):
    """The cohort with a visit's MRC >= 4 kept only when the patient's next visit is also >= 4 (or it is the last visit);
    otherwise recorded as 3: recovery confirmed at two consecutive visits (one rater error rarely makes two)."""
    import dataclasses

    v = cohort.visits.sort_values(["patient_id", "day"], kind="stable")
    hi = (v["mrc"] >= 4).to_numpy()
    pid = v["patient_id"].cat.codes.to_numpy()
    nxt_same = np.r_[pid[1:] == pid[:-1], False]
    nxt_hi = np.r_[hi[1:], False]
    ok = hi & (nxt_hi | ~nxt_same)
    mrc = np.where(hi & ~ok, 3, v["mrc"].to_numpy())
    visits = v.assign(mrc=mrc).loc[cohort.visits.index]
    return dataclasses.replace(cohort, visits=visits)


def part_v2effect(seed: int, n: int) -> list[dict]:
    """Generator v2: where the adherence effect acts and what the cure model estimates (issue 14/20)."""
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence import adherence_effect
    from footdrop_outcomes.errors import FootdropError

    c = simulate_cohort(n, seed=seed, version=2)
    truth = c.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
    operated = c.patients["surgery"].astype(str).isin(OPERATED).to_numpy()
    cons = c.subset(~operated, label="conservative")
    oper = c.subset(operated, label="operated")
    cons_true = _true_mrc(c).subset(~operated, label="conservative")
    rows = []
    runs = [("observed, all but ALS (default)", c, "observed", truth),
            ("observed, conservative", cons, "observed", truth),
            ("observed, conservative, true MRC", cons_true, "observed", truth),
            ("observed, conservative, confirmed MRC >= 4", _confirmed_mrc(c).subset(~operated, label="conservative"), "observed", truth),
            ("observed, all but ALS, true MRC", _true_mrc(c), "observed", truth),
            ("observed, operated", oper, "observed", 0.0),
            ("latent, recovering conservative", cons, "latent", truth)]
    for label, coh, outcome, t in runs:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            e = adherence_effect(coh, outcome=outcome)
        except FootdropError as exc:  # a subset where a model cannot be fitted: counted, not hidden
            print(f"seed {seed} {label}: {type(exc).__name__}", file=sys.stderr)
            continue
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        s = e.summary[(e.summary["term"] == "cumulative_adherence") & e.summary["recommended"]]
        if s.empty:  # the cure model could not be fitted (AdherenceWarning): no estimate to compare
            print(f"seed {seed} {label}: nothing recommended ({e.info['cure_model_skipped']})", file=sys.stderr)
            continue
        r = s.iloc[0]
        rows.append({"seed": seed, "part": "v2effect", "estimand": f"{label}: {r['model']}", "estimate": r["log_hr_per_10pct"],
                     "se": r["se"], "truth": t, "printed_truth": r["truth"], "recommended": bool(r["recommended"]),
                     "n_analysed": e.info["n"], "share_operated": float(operated.mean()),
                     "seconds": secs, "cpu_seconds": cpu})
    return rows


def _model_readings(cohort, ids, a: float, b: float, seed: int):
    """Visits whose MRC is drawn from the misclassification model itself: the state "recovered" is the generator's
    latent time T <= visit day; a reading is flipped with probability ``a`` (not recovered) or ``b`` (recovered)."""
    tp = cohort.truth.patients.assign(patient_id=cohort.truth.patients["patient_id"].astype(str)).set_index("patient_id")
    v = cohort.visits[cohort.visits["patient_id"].astype(str).isin(set(ids))]
    lat = tp["latent_recovery_day"].reindex(v["patient_id"].astype(str)).to_numpy(dtype=float)
    state = np.isfinite(lat) & (lat <= v["day"].to_numpy(float))
    u = np.random.default_rng(seed + 7_000_000).random(state.size)
    read = np.where(state, u >= b, u < a) & (v["day"].to_numpy(float) > 0)  # onset visits grade the foot drop itself
    return v.assign(mrc=np.where(read, 4, 3))


def part_misclass(seed: int, n: int) -> list[dict]:
    """Generator v2, conservatively treated patients: the misclassification-aware cure model against the cure model of
    the first reading >= 4 (issue 20)."""
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence.outcome import DEFAULT_COVARIATES, _prepare
    from footdrop_outcomes.errors import FootdropError
    from footdrop_outcomes.survival import adherence_exposure, fit_time_varying_cure
    from footdrop_outcomes.survival.misclass import fit_misclassified_cure

    c = simulate_cohort(n, seed=seed, version=2)
    truth = c.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
    frame, _, _, _ = _prepare(c, "observed", "conservative", formulas=(DEFAULT_COVARIATES,))
    ids = frame["patient_id"].astype(str)
    ex = adherence_exposure(c.adherence)
    tv = c.truth.visits
    second = tv["mrc_second_rater"].to_numpy()
    sample = np.random.default_rng(seed + 9_000_000).random(second.size) < 0.2
    vis = c.visits.assign(mrc_true=tv["mrc_true"].to_numpy(), mrc2=second, mrc2_sample=np.where(sample, second, np.nan))
    a_true, b_true = 0.03, 0.05
    model_vis = _model_readings(c, set(ids), a_true, b_true, seed)
    kw = {"incidence_formula": DEFAULT_COVARIATES, "latency_formula": DEFAULT_COVARIATES, "exposure_table": ex}
    runs = [("rated MRC: cure model, first reading >= 4", None, {}),
            ("rated MRC: misclassification cure", vis, {}),
            ("rated MRC + second rater at every visit: misclassification cure", vis, {"second_rating": "mrc2"}),
            ("rated MRC + second rater at 20% of visits: misclassification cure", vis, {"second_rating": "mrc2_sample"}),
            ("true MRC: misclassification cure", vis, {"rating": "mrc_true"}),
            ("model readings (a 0.03, b 0.05): cure model, first reading >= 4", model_vis, {"first": True}),
            ("model readings (a 0.03, b 0.05): misclassification cure", model_vis, {})]
    rows = []
    for label, visits, opts in runs:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            with np.errstate(all="ignore"):
                if visits is None or opts.get("first"):
                    f = frame
                    if visits is not None:  # the same patients, intervals from the model's readings
                        from footdrop_outcomes.cohort.recovery import recovery_intervals
                        rec = recovery_intervals(visits).table.set_index("patient_id")
                        f = frame.assign(lower=rec["lower_day"].reindex(ids).to_numpy() / 7,
                                         upper=rec["upper_day"].reindex(ids).to_numpy() / 7)
                    fit = fit_time_varying_cure(f, **kw)
                else:
                    fit = fit_misclassified_cure(frame, visits, **kw, **opts)
        except FootdropError as exc:
            print(f"seed {seed} {label}: {type(exc).__name__}", file=sys.stderr)
            continue
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        g = fit.summary.set_index("term").loc["cumulative_adherence per 0.1"]
        rows.append({"seed": seed, "part": "misclass", "estimand": label, "estimate": g["coef"], "se": g["se"], "truth": truth,
                     "n_analysed": len(frame), "seconds": secs, "cpu_seconds": cpu})
        if "error_rates" in fit.info and fit.info["error_rates_estimated"]:
            s = fit.summary.set_index("term")
            for term, tr in (("false recovery rate", a_true), ("missed recovery rate", b_true)):
                model_data = label.startswith("model")
                rows.append({"seed": seed, "part": "misclass", "estimand": f"{label}: {term} (logit)",
                             "estimate": s.loc[term, "coef"], "se": s.loc[term, "se"],
                             "truth": math.log(tr / (1 - tr)) if model_data else np.nan, "n_analysed": len(frame),
                             "seconds": np.nan, "cpu_seconds": np.nan})
    return rows


def part_misclass_near(seed: int, n: int) -> list[dict]:
    """As ``misclass``, rated MRC only: the exploratory extension of the misclassification model (visits in the last half
    of the latent recovery time read with their own false-recovery rate, ``near=0.5``; a plateau below 4 among
    non-recoverers, ``plateau=True``)."""
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.adherence.outcome import DEFAULT_COVARIATES, _prepare
    from footdrop_outcomes.errors import FootdropError
    from footdrop_outcomes.survival import adherence_exposure
    from footdrop_outcomes.survival.misclass import fit_misclassified_cure

    c = simulate_cohort(n, seed=seed, version=2)
    truth = c.truth.value("recovery_latency", "cumulative_adherence_per_10pct", "log_hazard_ratio")
    frame, _, _, _ = _prepare(c, "observed", "conservative", formulas=(DEFAULT_COVARIATES,))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with np.errstate(all="ignore"):
            fit = fit_misclassified_cure(frame, c.visits, incidence_formula=DEFAULT_COVARIATES, latency_formula=DEFAULT_COVARIATES,
                                         exposure_table=adherence_exposure(c.adherence), near=0.5, plateau=True)
    except FootdropError as exc:
        print(f"seed {seed}: {type(exc).__name__}", file=sys.stderr)
        return []
    g = fit.summary.set_index("term").loc["cumulative_adherence per 0.1"]
    return [{"seed": seed, "part": "misclass", "estimand": "rated MRC: misclassification cure, near 0.5 + plateau",
             "estimate": g["coef"], "se": g["se"], "truth": truth, "n_analysed": len(frame),
             "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}]


def summary_table(paths: list[str]) -> pd.DataFrame:
    """Bias, Monte Carlo SE, SE / SD and coverage per estimate, from the CSVs of the parts."""
    d = pd.concat([pd.read_csv(p) for p in paths if os.path.exists(p)], ignore_index=True)
    z = norm.ppf(0.975)
    out = []
    for (part, est), g in d.groupby(["part", "estimand"], sort=False):
        k = len(g)
        row: dict = {"part": part, "estimand": est, "seeds": k}
        if "truth" in g and g["truth"].notna().all():
            truth = g["truth"].to_numpy()
        elif "truth_seed" in g and g["truth_seed"].notna().all():  # population truth: mean over seeds of the per-seed expectation
            truth = np.full(k, g["truth_seed"].mean())
            row["truth_mc_se"] = g["truth_seed"].std(ddof=1) / math.sqrt(k)
        else:  # no truth (e.g. the error rates of rated MRC): mean and spread only
            truth = np.full(k, np.nan)
        x = g["estimate"].to_numpy()
        sd = x.std(ddof=1)
        row.update({"truth": truth.mean(), "mean": x.mean(), "bias": x.mean() - truth.mean(), "mc_se": sd / math.sqrt(k),
                    "emp_sd": sd})
        row["bias_in_mc_se"] = row["bias"] / row["mc_se"]
        if "se_ipcw" in g and g["se_ipcw"].notna().all():  # an interval given, and an SE for SE / SD
            row["mean_se"] = g["se_ipcw"].mean()
            row["se_over_sd"] = row["mean_se"] / sd
        if "se" in g and g["se"].notna().all():
            lo, hi = x - z * g["se"].to_numpy(), x + z * g["se"].to_numpy()
            row["mean_se"] = g["se"].mean()
            row["se_over_sd"] = row["mean_se"] / sd
            if "se_fixed" in g and g["se_fixed"].notna().all():
                row["se_fixed_over_sd"] = g["se_fixed"].mean() / sd
        elif "lower" in g and g["lower"].notna().all():
            lo, hi = g["lower"].to_numpy(), g["upper"].to_numpy()
        else:  # a share (e.g. of tests rejecting): no interval
            lo = hi = None
        if lo is not None and np.isfinite(truth).all():
            cover = (lo <= truth) & (truth <= hi)
            row["coverage"] = cover.mean()
            row["coverage_mc_se"] = math.sqrt(max(cover.mean() * (1 - cover.mean()), 1e-12) / k)
        if "seconds" in g and g["seconds"].notna().any():
            row["seconds_median"] = g["seconds"].median()
        out.append(row)
    return pd.DataFrame(out)


def summarise(paths: list[str], markdown: bool = False) -> None:
    table = summary_table(paths)
    if markdown:
        cols = {"estimand": "estimate", "seeds": "seeds", "truth": "truth", "mean": "mean", "bias_in_mc_se": "bias / MC SE",
                "emp_sd": "empirical SD", "mean_se": "mean SE", "se_over_sd": "SE / SD", "se_fixed_over_sd": "fixed-weight SE / SD",
                "coverage": "coverage", "coverage_mc_se": "(MC SE)"}
        t = table[[c for c in cols if c in table.columns]].rename(columns=cols)
        fmt = {"truth": 4, "mean": 4, "bias / MC SE": 1, "empirical SD": 4, "mean SE": 4, "SE / SD": 2,
               "fixed-weight SE / SD": 2, "coverage": 3, "(MC SE)": 3}
        lines = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
        for _, r in t.iterrows():
            cells = [("" if pd.isna(r[c]) else f"{r[c]:.{fmt[c]}f}") if c in fmt else str(r[c]) for c in t.columns]
            lines.append("| " + " | ".join(cells) + " |")
        print("\n".join(lines))
        return
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print(table.round(4).to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["pp", "disc", "weighting", "effect", "dose", "gee", "v2effect", "misclass", "misclass_near", "summarise"])
    ap.add_argument("paths", nargs="*", help="CSVs to summarise")
    ap.add_argument("--seeds", default="1-20")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--markdown", action="store_true", help="summarise as a markdown table")
    args = ap.parse_args()
    if args.part == "summarise":
        summarise(args.paths, markdown=args.markdown)
        return
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore")
    out = args.out or f"/tmp/study_adherence_{args.part}.csv"
    fn = {"pp": part_pp, "disc": part_disc, "weighting": part_weighting, "effect": part_effect, "dose": part_dose, "gee": part_gee,
          "v2effect": part_v2effect, "misclass": part_misclass, "misclass_near": part_misclass_near}[args.part]
    done = _done(out)
    with threadpool_limits(limits=1):
        for seed in _seeds(args.seeds):
            if seed in done:
                continue
            t0 = time.perf_counter()
            rows = fn(seed, args.n)
            _append(out, rows)
            print(f"seed {seed}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    summarise([out])


if __name__ == "__main__":
    main()
