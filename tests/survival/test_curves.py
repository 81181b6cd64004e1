"""Recovery curves: Kaplan-Meier and log-rank against R (stored output), Turnbull against KM on
exactly observed data (same NPMLE, same variance by invariance), small coverage studies against
known truth, and bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from footdrop_outcomes import ConfigError, FootdropError, simulate_cohort
from footdrop_outcomes.survival import kaplan_meier, logrank_test, number_at_risk, survival_frame, turnbull
from footdrop_outcomes.survival.curves import CurveWarning

REF_DIR = Path(__file__).resolve().parents[1] / "data" / "r_reference"


@pytest.fixture(scope="module")
def r_fits() -> dict:
    return json.loads((REF_DIR / "r_results.json").read_text())["fits"]


@pytest.fixture(scope="module")
def surv() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "surv.csv")


def _km(surv: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)  # tau = 78 beyond some groups' follow-up
        return kaplan_meier(surv, group="cause", duration_col="time_weeks", **kw)


@pytest.mark.parametrize(("key", "conf_type"), [("km", "log-log"), ("km_logci", "log")])
def test_kaplan_meier_matches_R(surv, r_fits, key, conf_type):
    s = _km(surv, conf_type=conf_type).summary
    checked = 0
    for name, want in r_fits[key]["values"].items():
        stat, rest = name.split("[", 1)
        rest = rest[:-1]
        if stat.startswith("median"):
            row = s[(s["group"] == rest) & (s["statistic"] == "median")].iloc[0]
            got = {"median": row["estimate"], "median_lcl": row["lower"], "median_ucl": row["upper"]}[stat]
        else:
            group, t = rest.split(",t=")
            row = s[(s["group"] == group) & (s["statistic"] == "recovered_by") & (s["time"] == float(t))].iloc[0]
            got = {"S": 1 - row["estimate"], "S_lcl": 1 - row["upper"], "S_ucl": 1 - row["lower"]}[stat]
        if want is None:  # R gives NA limits where S = 0; so do we, with a note
            assert np.isnan(got), name
            assert row["note"], name
        else:
            assert got == pytest.approx(want, rel=1e-8, abs=1e-12), name
        checked += 1
    assert checked == 90


def test_logrank_matches_R(surv, r_fits):
    res = logrank_test(surv, group="cause", duration_col="time_weeks")
    overall = res.summary.query("test == 'overall'").iloc[0]
    want = r_fits["logrank"]["values"]
    assert overall["chisq"] == pytest.approx(want["chisq"], rel=1e-10)
    assert overall["df"] == want["df"]
    assert overall["p"] == pytest.approx(want["p"], rel=1e-6)
    oe = res.observed_expected
    assert oe["observed"].sum() == pytest.approx(oe["expected"].sum())  # O - E sums to zero


def test_pairwise_are_two_group_logranks_with_holm(surv):
    res = logrank_test(surv, group="cause", duration_col="time_weeks")
    pairs = res.summary.query("test == 'pairwise'")
    assert len(pairs) == 10
    for _, row in pairs.iterrows():
        a, b = row["comparison"].split(" vs ")
        sub = surv[surv["cause"].isin([a, b])]
        alone = logrank_test(sub, group="cause", duration_col="time_weeks", pairwise=False).summary.iloc[0]
        assert row["chisq"] == pytest.approx(alone["chisq"], rel=1e-12)
    from statsmodels.stats.multitest import multipletests

    assert np.allclose(pairs["p_holm"], multipletests(pairs["p"], method="holm")[1], rtol=1e-12)


def test_trend_test_is_the_cox_score_test_without_ties():
    rng = np.random.default_rng(3)
    n = 600
    grade = rng.integers(0, 3, n)
    t = rng.exponential(1 / np.exp(0.25 * grade))
    c = rng.exponential(2.0, n)
    df = pd.DataFrame({"time": np.minimum(t, c), "event": t <= c, "grade": pd.Categorical(np.array(["a", "b", "c"])[grade])})
    res = logrank_test(df, group="grade", scores=[0, 1, 2]).summary.set_index("test")
    from statsmodels.duration.hazard_regression import PHReg

    model = PHReg(df["time"].to_numpy(), grade.astype(float)[:, None], status=df["event"].to_numpy().astype(int), ties="breslow")
    u = model.score(np.zeros(1))[0]
    info = -model.hessian(np.zeros(1))[0, 0]
    assert res.loc["trend", "chisq"] == pytest.approx(u**2 / info, rel=1e-10)
    # with two groups the trend test is the log-rank test
    two = df[df["grade"] != "b"].assign(grade=lambda d: d["grade"].astype(str))
    r2 = logrank_test(two, group="grade").summary.set_index("test")
    assert r2.loc["trend", "chisq"] == pytest.approx(r2.loc["overall", "chisq"], rel=1e-12)


def test_trend_across_severity_on_a_cohort():
    res = logrank_test(simulate_cohort(1500, seed=21), group="severity")
    trend = res.summary.set_index("test").loc["trend"]
    assert trend["comparison"] == "mild < moderate < severe"
    assert trend["p"] < 1e-6  # severity slows recovery in the generator


def test_km_agrees_with_lifelines_and_rmst(surv):
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    sub = surv[surv["cause"] == "stroke"]
    res = kaplan_meier(sub, duration_col="time_weeks", tau=40)
    kmf = KaplanMeierFitter().fit(sub["time_weeks"], sub["event"])
    times = res.curves["time"].to_numpy()
    assert np.allclose(res.curves["survival"], kmf.survival_function_at_times(times).to_numpy(), atol=1e-12)
    ci = kmf.confidence_interval_survival_function_.reindex(times)
    assert np.allclose(res.curves["lower"], ci.iloc[:, 0], atol=1e-10)
    rmst = res.summary.query("statistic == 'rmst'").iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines' quad IntegrationWarning
        assert rmst["estimate"] == pytest.approx(restricted_mean_survival_time(kmf, t=40), rel=1e-9)


def _exact_as_intervals(surv: pd.DataFrame) -> pd.DataFrame:
    e = surv["event"].astype(bool)
    return pd.DataFrame({"lower": np.where(e, surv["time_weeks"] - 1e-4, surv["time_weeks"]),
                         "upper": np.where(e, surv["time_weeks"], np.inf), "cause": surv["cause"]})


def test_turnbull_on_exact_data_is_kaplan_meier_with_greenwood_se(surv):
    sub = surv[surv["cause"].isin(["stroke", "neuropathy"])]
    km = kaplan_meier(sub, group="cause", duration_col="time_weeks", landmarks=[12, 26], tau=40)
    tb = turnbull(_exact_as_intervals(sub), group="cause", landmarks=[12, 26], tau=40)
    for group in ("stroke", "neuropathy"):
        k = km.curves.query("group == @group and events > 0")
        got = tb.survival_at(k["time"].to_numpy(), group)
        assert np.allclose(got["survival"], k["survival"], atol=1e-7)
        # the inverse information is invariant to the parametrisation: masses vs hazards (Greenwood)
        assert np.allclose(got["se"], k["se"], rtol=1e-4, atol=1e-7)
    a = km.summary.set_index(["group", "statistic", "time"])["estimate"]
    b = tb.summary.set_index(["group", "statistic", "time"])["estimate"]
    assert np.allclose(a.xs("recovered_by", level=1), b.xs("recovered_by", level=1), atol=1e-6)
    assert np.allclose(a.xs("rmst", level=1), b.xs("rmst", level=1), atol=1e-3)  # 1e-4-wide ramps


def test_turnbull_satisfies_optimality_and_is_fast():
    frame = survival_frame(simulate_cohort(3000, seed=8))
    res = turnbull(frame, group="cause")
    assert max(res.info["iterations"].values()) < 200
    for group, counts in res.info["innermost_intervals"].items():
        assert 1 <= counts["with_mass"] <= counts["innermost"], group


def _visit_grid_data(rng: np.random.Generator, n: int, shape: float, scale: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Weibull recovery seen at scheduled visits (weeks 2..26, 20% missed), dropout after any visit."""
    schedule = np.array([2, 4, 6, 8, 10, 12, 16, 20, 26], dtype=float)
    t = scale * rng.weibull(shape, n)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    for i in range(n):
        seen = schedule[rng.random(schedule.size) > 0.2]
        seen = seen[: rng.integers(1, seen.size + 1)] if seen.size else schedule[:1]
        before, after = seen[seen < t[i]], seen[seen >= t[i]]
        lower[i] = before.max() if before.size else 0.0
        upper[i] = after.min() if after.size else np.inf
    return pd.DataFrame({"lower": lower, "upper": upper}), t


def test_turnbull_coverage_against_known_truth():
    rng = np.random.default_rng(20261125)
    shape, scale = 1.8, 9.0
    landmarks = [6.0, 12.0]
    truth = 1 - np.exp(-(np.array(landmarks) / scale) ** shape)
    est, cover = [], []
    for _ in range(120):
        df, _ = _visit_grid_data(rng, 150, shape, scale)
        s = turnbull(df, landmarks=landmarks, tau=12).summary.query("statistic == 'recovered_by'")
        est.append(s["estimate"].to_numpy())
        cover.append(((s["lower"] <= truth) & (truth <= s["upper"])).to_numpy())
    est, cover = np.array(est), np.array(cover)
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(axis=0) - truth) < 3 * mc_se + 1e-3)
    # 120 replicates: 95% coverage has MC SE 0.02
    assert np.all(cover.mean(axis=0) > 0.89) and np.all(cover.mean(axis=0) < 0.995)


def test_km_coverage_against_known_truth():
    rng = np.random.default_rng(7)
    truth_s = np.exp(-((np.array([6.0, 12.0]) / 10.0) ** 1.5))
    cover = []
    for _ in range(150):
        t = 10.0 * rng.weibull(1.5, 150)
        c = rng.uniform(2, 30, 150)
        df = pd.DataFrame({"time": np.minimum(t, c), "event": t <= c})
        s = kaplan_meier(df, landmarks=[6, 12], tau=12).summary.query("statistic == 'recovered_by'")
        cover.append(((1 - s["upper"] <= truth_s) & (truth_s <= 1 - s["lower"])).to_numpy())
    assert np.all(np.abs(np.mean(cover, axis=0) - 0.95) < 0.05)


def test_turnbull_recovers_the_latent_truth_where_first_visit_km_is_late():
    cohort = simulate_cohort(4000, seed=31)
    frame = survival_frame(cohort)
    latent = cohort.truth.patients["latent_recovery_day"].to_numpy() / 7
    keep = (frame["cause"] == "peroneal_compression").to_numpy()
    truth = np.array([(latent[keep] <= t).mean() for t in (6.0, 12.0)])
    tb = turnbull(frame[keep], landmarks=[6, 12], tau=12).summary.query("statistic == 'recovered_by'")
    km = kaplan_meier(frame[keep], landmarks=[6, 12], tau=12).summary.query("statistic == 'recovered_by'")
    se = (tb["upper"] - tb["lower"]).to_numpy() / (2 * 1.96)
    assert np.all(np.abs(tb["estimate"].to_numpy() - truth) < 3.5 * se)
    assert np.all(km["estimate"].to_numpy() < truth - 0.05)  # dating at the first visit is late


def test_summary_layout_and_notes(small_cohort):
    res = kaplan_meier(small_cohort, group="cause")
    s = res.summary
    assert list(s.columns) == ["group", "n", "events", "statistic", "time", "estimate", "lower", "upper", "n_at_risk", "note",
                               "identified", "identification", "set_lower", "set_upper", "population"]
    # Kaplan-Meier estimates are points of the right-censored approximation, for all patients
    assert (s["population"] == "all patients").all()
    pts = s[np.isfinite(s["estimate"])]
    assert (pts["identification"] == "point").all() and (pts["set_lower"] == pts["estimate"]).all()
    assert set(s["statistic"]) == {"median", "recovered_by", "rmst"}
    assert sorted(s.query("statistic == 'recovered_by'")["time"].unique()) == [6, 12, 26, 52, 78]
    # ALS never recovers: its median is "not reached", stated, not a silent NaN
    if "als" in set(s["group"]):
        als = s.query("group == 'als' and statistic == 'median'").iloc[0]
        assert np.isnan(als["estimate"]) and als["note"] == "not reached"
    days = kaplan_meier(small_cohort, time_unit="days").summary
    assert sorted(days.query("statistic == 'recovered_by'")["time"]) == [42, 84, 182, 364, 546]


def test_number_at_risk_and_plot(small_cohort):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = survival_frame(small_cohort)
    res = kaplan_meier(frame, group="severity")
    table = number_at_risk(res, [0, 12, 26])
    for sev in ("mild", "severe"):
        t = frame.loc[frame["severity"] == sev, "time"]
        assert table.loc[sev].tolist() == [int((t >= x).sum()) for x in (0, 12, 26)]
    ax = res.plot(landmarks=True)
    assert len(ax.figure.axes) == 2  # curves and the at-risk table
    tb = turnbull(frame, group="severity")
    ax2 = tb.plot(kind="survival", at_risk=False)
    assert ax2.get_ylabel() == "probability not yet recovered"
    plt.close("all")
    lr = logrank_test(frame, group="severity")
    assert lr.plot().get_xlabel() == "observed / expected recoveries"
    plt.close("all")


def test_single_patient_and_eventless_groups():
    df = pd.DataFrame({"time": [1.0, 2, 3, 4, 5, 6], "event": [1, 0, 1, 1, 0, 0], "g": ["a", "a", "a", "a", "b", "c"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveWarning)
        s = kaplan_meier(df, group="g", landmarks=[2]).summary
    med = s.query("statistic == 'median'").set_index("group")
    assert med.loc["b", "note"] == "not reached" and med.loc["c", "note"] == "not reached"
    lr = logrank_test(df, group="g")
    assert np.isfinite(lr.summary.iloc[0]["chisq"])


def test_tau_beyond_follow_up_warns():
    df = pd.DataFrame({"time": [1.0, 2, 3, 4], "event": [1, 0, 1, 0]})
    with pytest.warns(CurveWarning, match="beyond the last follow-up"):
        kaplan_meier(df, landmarks=[2], tau=10)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda d: kaplan_meier(d.assign(time=-d["time"])), FootdropError, "finite and >= 0"),
        (lambda d: kaplan_meier(d, group="nope"), FootdropError, "no column 'nope'"),
        (lambda d: kaplan_meier(d, landmarks=[0, 6]), ConfigError, "landmarks"),
        (lambda d: kaplan_meier(d, conf_type="plain"), ConfigError, "conf_type"),
        (lambda d: kaplan_meier(d, alpha=1.5), ConfigError, "alpha"),
        (lambda d: turnbull(d.assign(upper=d["lower"] - 1)), FootdropError, "upper must be greater than lower"),
        (lambda d: logrank_test(d.assign(one="x"), group="one"), FootdropError, "at least two groups"),
        (lambda d: logrank_test(d, group="severity", order=["mild", "severe"]), ConfigError, "order must list"),
        (lambda d: logrank_test(d, group="severity", scores=[1, 2]), ConfigError, "scores needs 3"),
        (lambda d: kaplan_meier(d.assign(cause=d["cause"].astype(object).where(d.index != 3)), group="cause"),
         FootdropError, "missing in rows 3"),
    ],
)
def test_bad_input(small_cohort, call, error, match):
    frame = survival_frame(small_cohort)
    with pytest.raises(error, match=match):
        call(frame)


def test_logrank_with_no_recoveries_is_refused():
    df = pd.DataFrame({"time": [1.0, 2, 3], "event": [0, 0, 0], "g": ["a", "b", "b"]})
    with pytest.raises(FootdropError, match="no recoveries"):
        logrank_test(df, group="g")


def test_p_values_are_chi_square_tails(surv):
    s = logrank_test(surv, group="severity", duration_col="time_weeks").summary
    assert np.allclose(s["p"], chi2.sf(s["chisq"], s["df"]))


def test_at_risk_table_protects_small_cells():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame({"time": np.r_[np.arange(1.0, 31), np.arange(1.0, 8)], "event": 1,
                       "g": ["big"] * 30 + ["small"] * 7})
    res = kaplan_meier(df, group="g", landmarks=[5], tau=5)
    shown = {t.get_text() for t in res.plot(at_risk_times=[0, 10, 20]).figure.axes[1].texts}
    assert {"30", "20", "≤10", "0"} <= shown  # 21 at risk at 10 weeks shows rounded as 20
    assert not shown & {str(k) for k in range(1, 11)}
    exact = {t.get_text() for t in res.plot(at_risk_times=[0, 10, 20], small_cells=None).figure.axes[1].texts}
    assert {"21", "7", "11"} <= exact
    plt.close("all")
