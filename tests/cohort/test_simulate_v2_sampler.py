"""Generator v2's fast samplers (issue 14) draw from the same distributions as generator 2.0's dense ones.

The samplers of ``cohort/_sim_adherence.py`` consume the random stream differently, so a v2
cohort for a seed is not the one generator 2.0 gave; what must not change is the distribution.
Three kinds of check:

* against the old sampler: table statistics (weekly adherence shares per exercise, session
  counts, device use, recovery times, follow-up) averaged over 6 new cohorts, compared with the
  same statistics of 40 cohorts of the dense generator 2.0, stored in
  ``tests/data/simulate_v2/sampler_2_0_reference.json`` (mean and between-replicate SD; how it was
  made is recorded in the file and in ``_reference`` below). Each statistic must lie within 4
  Monte Carlo SEs (about 70 statistics: a false alarm about once in 200 runs if nothing changed);
* against the exact binomial distribution: the session sampler, by a chi-square test per cell type;
* against the model, exactly: the adherence table holds the weeks the follow-up and discharge rules
  give, and each conservative recovery time solves H(t) = E for the cumulative hazard recomputed
  from the adherence the table shows (an independent implementation of the inversion).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_ndtr

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate_v2 import SimulationConfigV2
from footdrop_outcomes.cohort.vocabulary import CAUSES, EXERCISES

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "simulate_v2" / "sampler_2_0_reference.json"
WEEK_BANDS = ((0, 4), (4, 12), (12, 26), (26, 1000))


def sampler_statistics(c) -> dict[str, float]:
    """Statistics of a v2 cohort that depend on the adherence, recovery and device-hour samplers."""
    p, v, a, tp = c.patients, c.visits, c.adherence, c.truth.patients
    n = len(p)
    code = a["patient_id"].cat.codes.to_numpy()
    w_start = -(-p["days_to_treatment"].to_numpy(np.int64) // 7)
    prog = a["week"].to_numpy(np.int64) - w_start[code]
    out = {"adherence_rows_per_patient": len(a) / n, "visits_per_patient": len(v) / n}
    for stem in EXERCISES:
        prescribed = a[f"{stem}_prescribed"].to_numpy(float)
        done = a[f"{stem}_completed"].to_numpy(float)
        for lo, hi in WEEK_BANDS:
            m = (prog >= lo) & (prog < hi)
            out[f"completed_share[{stem}][weeks {lo}-{hi}]"] = done[m].sum() / prescribed[m].sum()
        on = prescribed > 0
        out[f"all_completed[{stem}]"] = float(np.mean(done[on] == prescribed[on]))
        out[f"none_completed[{stem}]"] = float(np.mean(done[on] == 0))
        out[f"mean_squared_share[{stem}]"] = float(np.mean((done[on] / prescribed[on]) ** 2))
    for dev in ("afo", "fes"):
        h = a[f"{dev}_hours"].to_numpy(float)
        hp = a[f"{dev}_hours_prescribed"].to_numpy(float)
        m = ~np.isnan(h)
        used = m & (h > 0)
        out[f"{dev}_row_share"] = float(m.mean())
        out[f"{dev}_in_use_share"] = float(used.sum() / max(m.sum(), 1))
        out[f"{dev}_worn_over_prescribed"] = float(h[used].sum() / hp[used].sum())
        out[f"{dev}_worn_fraction_sd"] = float(np.std(h[used] / hp[used]))
    cause = p["cause"].astype(str).to_numpy()
    onset = (tp["treatment_clock"] == "onset").to_numpy() & tp["will_recover"].to_numpy(bool)
    day = tp["latent_recovery_day"].to_numpy(float)
    out["recovering_share"] = float(tp["will_recover"].mean())
    for name, m in (("onset clock", onset), ("onset clock, stroke", onset & (cause == "stroke")),
                    ("onset clock, peroneal", onset & (cause == "peroneal_compression"))):
        out[f"mean_log_recovery_day[{name}]"] = float(np.log(day[m]).mean())
        for d in (42, 91, 182):
            out[f"recovered_by_day_{d}[{name}]"] = float(np.mean(day[m] <= d))
    end = p["followup_end"].astype(str).to_numpy()
    out["dropout_share"] = float(np.mean(end == "dropout"))
    out["mean_followup_days"] = float(p["followup_days"].mean())
    last = v.groupby("patient_id", observed=True)["mrc"].last()
    out["mrc_ge4_at_last_visit"] = float((last >= 4).mean())
    out["mean_gait_speed"] = float(v["gait_speed"].mean())
    return out


def test_v2_tables_have_the_distribution_of_the_dense_sampler_of_generator_2_0():
    ref = json.loads(REFERENCE.read_text())
    replicates, n = 6, 20_000
    rows = [sampler_statistics(simulate_cohort(n, seed=7_000 + r, version=2)) for r in range(replicates)]
    assert set(rows[0]) == set(ref["statistics"])
    z = {}
    for key, st in ref["statistics"].items():
        new = np.mean([r[key] for r in rows])
        se = st["sd"] * math.sqrt(1 / ref["replicates"] + 1 / replicates)  # the same distribution: the same SD
        z[key] = (new - st["mean"]) / se
    worst = max(z, key=lambda k: abs(z[k]))
    assert abs(z[worst]) < 4.0, f"{worst}: {z[worst]:+.2f} Monte Carlo SEs from generator 2.0"


def test_v2_sampler_statistics_detect_a_changed_adherence_model():
    """The comparison above can fail: an adherence decline 20% steeper moves late shares by many SEs."""
    ref = json.loads(REFERENCE.read_text())
    cfg = SimulationConfigV2(adherence_decline_per_week=0.018)
    rows = [sampler_statistics(simulate_cohort(20_000, seed=7_100 + r, config=cfg)) for r in range(2)]
    key = "completed_share[toe_lifts][weeks 26-1000]"
    new = np.mean([r[key] for r in rows])
    st = ref["statistics"][key]
    assert (st["mean"] - new) / (st["sd"] * math.sqrt(1 / ref["replicates"] + 1 / 2)) > 4.0


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 0.62, 0.9, 1.0])
def test_binomial_sessions_follow_the_binomial_distribution(p):
    from footdrop_outcomes.cohort._sim_adherence import binomial_sessions  # here: the module also runs on generator 2.0 (_reference)

    rng = np.random.default_rng(20261202)
    per_week = np.tile(np.array([0, 3, 4, 7, 14], dtype=np.int8), 4_000)  # rows of every prescription in one call
    prob = np.full((per_week.size, 8), p, dtype=np.float32)
    counts = binomial_sessions(rng, per_week, prob)
    assert counts.dtype == np.int8 and (counts >= 0).all() and (counts <= per_week[:, None]).all()
    for k in (0, 3, 4, 7, 14):
        x = counts[per_week == k].ravel()
        if p in (0.0, 1.0) or k == 0:  # degenerate: exact (P(session) = 1 - 2**-24 at p = 1, never missed in these draws)
            assert (x == round(k * p)).all()
            continue
        observed = np.bincount(x, minlength=k + 1)
        expected = stats.binom.pmf(np.arange(k + 1), k, p) * x.size
        keep = expected >= 5  # pool the sparse tails
        obs = np.r_[observed[keep], observed[~keep].sum()]
        exp = np.r_[expected[keep], expected[~keep].sum()]
        if exp[-1] < 5:
            obs, exp = np.r_[obs[:-2], obs[-2:].sum()], np.r_[exp[:-2], exp[-2:].sum()]
        exp *= obs.sum() / exp.sum()
        assert stats.chisquare(obs, exp).pvalue > 1e-4, (k, p)


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(6_000, seed=23, version=2)


def test_adherence_rows_are_the_program_weeks_within_follow_up_and_until_discharge(cohort):
    p, a, tp = cohort.patients, cohort.adherence, cohort.truth.patients
    cfg = SimulationConfigV2()
    w_start = -(-p["days_to_treatment"].to_numpy(np.int64) // 7)
    fu = p["followup_days"].to_numpy(np.int64)
    latent = tp["latent_recovery_day"].to_numpy(float)
    expected = np.zeros(len(p), dtype=np.int64)
    for i in range(len(p)):  # the rule, week by week
        for prog in range(cfg.followup_weeks + 4):
            week = w_start[i] + prog
            if 7 * week + 6 <= fu[i] and week <= (latent[i] + 42) / 7 and week <= 520:  # week <= floor(x) iff week <= x
                expected[i] += 1
    code = a["patient_id"].cat.codes.to_numpy()
    assert (np.bincount(code, minlength=len(p)) == expected).all()
    first = np.r_[True, code[1:] != code[:-1]]
    week = a["week"].to_numpy(np.int64)
    assert (week[first] == w_start[code[first]]).all() and (np.diff(week)[~first[1:]] == 1).all()


def test_conservative_recovery_time_solves_the_cumulative_hazard_of_the_adherence_shown(cohort):
    p, a, tp = cohort.patients, cohort.adherence, cohort.truth.patients
    cfg = SimulationConfigV2()
    k, gamma, ref = cfg.weibull_shape, cfg.adherence_log_hr, cfg.adherence_reference
    lam = np.array([cfg.median_recovery_weeks[c] for c in CAUSES])[p["cause"].cat.codes.to_numpy()] / math.log(2) ** (1 / k)
    lp = tp["latency_linear_predictor"].to_numpy()
    e = -log_ndtr(tp["recovery_score_z"].to_numpy())  # the unit-exponential draw behind the recovery-speed score
    t = tp["latent_recovery_day"].to_numpy() / 7
    w0 = -(-p["days_to_treatment"].to_numpy(np.int64) // 7)
    code = a["patient_id"].cat.codes.to_numpy()
    starts = np.searchsorted(code, np.arange(len(p)))
    ends = np.searchsorted(code, np.arange(len(p)), side="right")
    total_p = sum(a[f"{s}_prescribed"].to_numpy(float) for s in EXERCISES)
    total_c = sum(a[f"{s}_completed"].to_numpy(float) for s in EXERCISES)
    onset = (tp["treatment_clock"] == "onset").to_numpy() & tp["will_recover"].to_numpy(bool)
    checked = 0
    for i in np.flatnonzero(onset):
        if t[i] <= w0[i]:  # before the program: no adherence yet
            h = math.exp(lp[i] - gamma * ref) * (t[i] / lam[i]) ** k
        else:
            j = int(math.floor(t[i] - w0[i]))  # program week of the recovery
            if ends[i] - starts[i] < j + 1 or j >= cfg.followup_weeks + 4:
                continue  # the table stops before it (dropout)
            tp_i, tc_i = total_p[starts[i]:starts[i] + j + 1], total_c[starts[i]:starts[i] + j + 1]
            cum_p, cum_c = np.cumsum(tp_i) - tp_i, np.cumsum(tc_i) - tc_i
            mult = np.exp(lp[i] + gamma * (np.divide(cum_c, cum_p, out=np.zeros(j + 1), where=cum_p > 0) - ref))
            edges = ((w0[i] + np.arange(j + 1)) / lam[i]) ** k
            h = math.exp(lp[i] - gamma * ref) * (w0[i] / lam[i]) ** k + np.sum(mult[:j] * np.diff(edges))
            h += mult[j] * ((t[i] / lam[i]) ** k - edges[j])
        assert h == pytest.approx(e[i], rel=1e-7, abs=1e-9), i
        checked += 1
    assert checked > 0.8 * onset.sum()


def _reference(out: str, commit: str, replicates: int = 40, n: int = 20_000) -> None:
    """Write the reference statistics of the generator on the import path.

    Made with generator 2.0's dense sampler (commit bd74c863c602, before issue 14's samplers)::

        mkdir /tmp/g20 && git archive bd74c863c602 src | tar -x -C /tmp/g20
        PYTHONPATH=/tmp/g20/src python tests/cohort/test_simulate_v2_sampler.py OUT.json bd74c863c602
    """
    rows = [sampler_statistics(simulate_cohort(n, seed=1_000 + r, version=2)) for r in range(replicates)]
    keys = list(rows[0])
    arr = np.array([[row[k] for k in keys] for row in rows])
    ref = {"description": "Statistics (tests/cohort/test_simulate_v2_sampler.py: sampler_statistics) of cohorts of generator 2.0 with "
                          "the dense adherence sampler (per-session float32 uniforms for every patient-week), before issue 14's faster "
                          "samplers: mean and between-replicate SD over the replicate seeds. Made with _reference() in that module.",
           "replicates": replicates, "n_patients": n, "seeds": f"1000-{1000 + replicates - 1}", "commit": commit,
           "statistics": {k: {"mean": float(arr[:, i].mean()), "sd": float(arr[:, i].std(ddof=1))} for i, k in enumerate(keys)}}
    Path(out).write_text(json.dumps(ref, indent=1) + "\n")


if __name__ == "__main__":
    _reference(sys.argv[1], sys.argv[2])
