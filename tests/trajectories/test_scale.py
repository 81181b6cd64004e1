"""Mixed models at registry scale (issue 16): what a fit keeps in memory, and that the cuts change nothing.

The fitted result does not hold the fixed-effects design (rebuilt equal on demand), its rows keep only
the columns the model uses, the per-patient cross-products are stored once, the rows are ordered as a
stable sort by patient and time, and the analytic gradient (REML trace term computed as
``tr(A^-1 KG_a' KG_b)``) agrees with central differences of the deviance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.trajectories import _fast, fit_trajectory, trajectory_frame
from footdrop_outcomes.trajectories._design import prepare

FORMULA = "time * (cause + severity) + age_c + diabetes"


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    frame = trajectory_frame(simulate_cohort(400, seed=11, version=2, progress=False))
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # rows in no particular order


def _prepare(long: pd.DataFrame, **kw):
    return prepare(long, "gait_speed", FORMULA, time=None, df=3, knots=None, random="slope", id_col="patient_id",
                   time_col="weeks", **kw)


def test_rows_in_stable_patient_then_time_order(long: pd.DataFrame) -> None:
    pr = _prepare(long)
    obs = long[long["gait_speed"].notna()].copy()
    obs["__t"] = obs["weeks"]
    expected = obs.sort_values(["patient_id", "__t"], kind="stable")
    np.testing.assert_array_equal(pr.frame["patient_id"].to_numpy(), expected["patient_id"].to_numpy())
    np.testing.assert_array_equal(pr.y, expected["gait_speed"].to_numpy())
    np.testing.assert_array_equal(np.asarray(pr.ids)[pr.codes], pr.frame["patient_id"].to_numpy())
    assert list(pr.ids) == sorted(set(pr.ids))


def test_frame_keeps_only_the_model_columns(long: pd.DataFrame) -> None:
    pr = _prepare(long, keep=("site", "no_such_column"))
    assert set(pr.frame.columns) == {"patient_id", "weeks", "cause", "severity", "age_c", "diabetes", "site", "__t", "__y"}


def test_fit_keeps_no_design_and_rebuilds_it_equal(long: pd.DataFrame) -> None:
    pr = _prepare(long)
    fit = fit_trajectory(long, "gait_speed", FORMULA)
    assert fit.prepared.x_matrix is None
    np.testing.assert_array_equal(fit.prepared.x, pr.x)  # bit for bit
    res = fit.residuals()
    np.testing.assert_allclose(res["fitted_population"].to_numpy(), pr.x @ fit.params.to_numpy(), rtol=0, atol=1e-12)


def test_cross_products_stored_once(long: pd.DataFrame) -> None:
    pr = _prepare(long)
    bl = _fast.blocks(pr.y, pr.x, pr.zmat, pr.codes)
    assert all(np.shares_memory(bl.g, ga) for ga in bl.gs)
    for a, ga in enumerate(bl.gs):
        assert ga.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(bl.g[:, a, :], ga)
    # g against its definition: Z_i'X_i per patient
    i = 5
    rows = pr.codes == i
    np.testing.assert_allclose(bl.g[i], pr.zmat[rows].T @ pr.x[rows], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_central_differences(long: pd.DataFrame, reml: bool) -> None:
    pr = _prepare(long)
    bl = _fast.blocks(pr.y, pr.x, pr.zmat, pr.codes)
    rng = np.random.default_rng(7)
    for _ in range(3):
        theta = np.array([rng.uniform(0.3, 2.0), rng.uniform(-0.5, 0.5), rng.uniform(0.2, 1.5)])
        grad = _fast.evaluate(theta, bl, reml).gradient
        h = 1e-5
        num = np.array([(_fast.evaluate(theta + h * e, bl, reml, gradient=False).deviance
                         - _fast.evaluate(theta - h * e, bl, reml, gradient=False).deviance) / (2 * h) for e in np.eye(3)])
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-5)


def _naive_frame(cohort) -> pd.DataFrame:
    """trajectory_frame as written before issue 16: ids as text per row, a merge on them."""
    v, p = cohort.visits, cohort.patients[["patient_id", "cause", "severity", "baseline_mrc", "age", "sex", "diabetes",
                                           "smoking", "supervised_physio", "fes", "site"]].copy()
    for col in ("diabetes", "supervised_physio", "fes"):
        p[col] = p[col].astype(float)
    p["current_smoker"] = (p["smoking"].astype(object) == "current").astype(float).where(p["smoking"].notna())
    p["age_c"] = (p["age"] - 60) / 10
    a = cohort.adherence
    done = sum(a[c].astype(np.int64) for c in a.columns if c.endswith("_completed"))
    given = sum(a[c].astype(np.int64) for c in a.columns if c.endswith("_prescribed") and not c.endswith("hours_prescribed"))
    by = pd.DataFrame({"pid": a["patient_id"].astype(str), "done": done, "given": given}).groupby("pid")[["done", "given"]].sum()
    p["adherence"] = (by["done"] / by["given"].where(by["given"] > 0)).reindex(p["patient_id"].astype(str).to_numpy()).fillna(0.0).to_numpy()
    out = pd.DataFrame({"patient_id": v["patient_id"].astype(str).to_numpy(), "day": v["day"].to_numpy(), "weeks": v["day"].to_numpy() / 7.0})
    out["lw"] = np.log1p(out["weeks"])
    for col in ("gait_speed", "rom_deg", "mrc"):
        out[col] = v[col].to_numpy(dtype=float)
    p["patient_id"] = p["patient_id"].astype(str)
    out = out.merge(p, on="patient_id", how="left", validate="many_to_one")
    return out[["patient_id", "day", "weeks", "lw", "gait_speed", "rom_deg", "mrc", "cause", "severity", "baseline_mrc",
                "age", "age_c", "sex", "diabetes", "smoking", "current_smoker", "supervised_physio", "fes", "site", "adherence"]]


@pytest.mark.parametrize("version", [1, 2])
def test_trajectory_frame_equals_the_merge_on_text_ids(version: int) -> None:
    from footdrop_outcomes.cohort.cohort import Cohort

    cohort = simulate_cohort(600, seed=20 + version, version=version, progress=False)
    pd.testing.assert_frame_equal(trajectory_frame(cohort), _naive_frame(cohort), check_exact=True)
    # unused id categories, patients in another order than their visits, ids as plain text (the merge path)
    sub = cohort.subset(cohort.patients["patient_id"].iloc[::-3])
    pd.testing.assert_frame_equal(trajectory_frame(sub), _naive_frame(sub), check_exact=True)
    # visits shuffled, patients in reverse order, id categories in another order than the patients' rows
    tables = {n: getattr(sub, n).copy() for n in ("patients", "visits", "adherence")}
    tables["visits"] = tables["visits"].sample(frac=1.0, random_state=5).reset_index(drop=True)
    tables["patients"] = tables["patients"].iloc[::-1].reset_index(drop=True)
    cats = list(tables["patients"]["patient_id"].cat.categories)
    for t in tables.values():
        t["patient_id"] = t["patient_id"].cat.set_categories(cats[1::2] + cats[::2])
    mixed = Cohort(**tables, source="test", _validated=True)
    pd.testing.assert_frame_equal(trajectory_frame(mixed), _naive_frame(mixed), check_exact=True)
    for t in tables.values():
        t["patient_id"] = t["patient_id"].astype(str)
    plain = Cohort(**tables, source="test", _validated=True)
    pd.testing.assert_frame_equal(trajectory_frame(plain), _naive_frame(plain), check_exact=True)


def test_fit_evaluates_the_estimate_once(long: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """The optimiser's last point, the convergence check and the result share one evaluation (each costs a pass over
    the patients); the fit is the same as without the reuse (the values are bit for bit those of a fresh evaluation)."""
    pr = _prepare(long)
    bl = _fast.blocks(pr.y, pr.x, pr.zmat, pr.codes)
    seen: list[bytes] = []
    plain = _fast.evaluate

    def counting(theta, blocks, reml, *, gradient=True):
        seen.append(np.asarray(theta, dtype=float).tobytes())
        return plain(theta, blocks, reml, gradient=gradient)

    monkeypatch.setattr(_fast, "evaluate", counting)
    out = _fast.fit(bl, True, np.array([1.0, 0.0, 0.5]))
    assert seen.count(out.theta.tobytes()) == 1
    fresh = plain(out.theta, bl, True)
    assert out.evaluation.deviance == fresh.deviance
    np.testing.assert_array_equal(out.evaluation.beta, fresh.beta)
