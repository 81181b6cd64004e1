"""Adherence over time by intervention: a population-averaged GEE of the weekly session share.

Model (one row per patient-week with something prescribed, ``program_week`` = weeks since the
patient's first recorded program week):

    g(E[share_iw]) = b0 + b_group + b_week * program_week + b_group:week * program_week + covariates

fitted by generalised estimating equations (statsmodels ``GEE``) with patients as clusters, an
exchangeable (default), AR(1) or independence working correlation and robust (sandwich) standard
errors. ``family="binomial"`` (logit link, the share as a quasi-binomial proportion: each
patient-week counts once) or ``"gaussian"`` (identity link, the share itself).

**Marginal vs conditional scale.** The simulator (docs/simulation.md, section 4) is a
*conditional* (subject-specific) model: ``logit p_iw = p_i - 0.015 (w - w0) + e_iw`` with a patient
propensity ``p_i = 0.6 + 0.4 supervised - 0.3 current smoker - 0.2 severe + N(0, 1.2^2)`` and
weekly noise ``e_iw ~ N(0, 0.6^2)``. A GEE estimates *population-averaged* effects, which on
the logit scale are attenuated towards 0 by roughly ``1 / sqrt(1 + 0.346 * (1.2^2 + 0.6^2))``
= 0.785. :func:`marginal_truth` computes the exact population-averaged target of the fitted
model from the generator (the logistic projection of the true marginal mean shares over the
analysed rows), so estimates are checked against the right number.

**Missing weeks.** The adherence record of a recovering patient ends about six weeks after
recovery, and recovery is faster with better adherence, so later weeks could over-represent less
adherent patients (dropout depending on the unobserved propensity is not missing at random given
the model's covariates, and GEE is only valid when missingness depends on the covariates in the
model). Over 30 seeds of the default generator the independence GEE's weekly decline is steeper
than its marginal truth and several CIs cover less than 95% (docs/adherence.md section 6): the
estimates describe the patients still recorded each week.

**Records that end: inverse probability weighting** (``weights="ipw"``; Robins, Rotnitzky & Zhao
1995). A pooled logistic model of the record ending after each week (denominator: the baseline
covariates ``dropout_covariates`` (default: the group and the model's covariates), a B-spline of
the program week, and the cumulative and last week's session share before that week; numerator:
the B-spline alone) gives each patient-week the stabilised inverse probability of the record
having run that far, and the GEE's estimating equations are weighted by it, with the
independence working correlation (statsmodels' GEE takes only weights constant within a
patient, and with weights that change within patient a non-diagonal working correlation mixes
weeks whose weights differ, so its estimating equations need not be unbiased). Valid
when the record's end depends only on that observed history (true in the simulator: the end
follows recovery, which depends on the recorded adherence and baseline covariates). Standard
errors stack the two record-end models' estimating equations with the GEE's (patients as
clusters), so they account for the weights' estimation; ``info["se_fixed_weights"]`` are the
robust SEs that treat the weights as known. The target is then the model fitted to every
analysed patient's weeks had no record ended, each week weighted by the share still recorded
(the numerator), and ``truth_marginal`` is computed on that full grid. The record-end model
lets the cumulative share's effect change with the program week (B-spline interaction): without
it the decline was over-corrected by 5 Monte Carlo SE. Measured over 60 seeds of the default
generator (docs/adherence.md section 6): every term within 2 Monte Carlo SE of its truth (the
decline +1.8), coverage 0.92-0.97, SE / SD 0.93-1.16.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes.adherence._input import AdherenceInputError, check_choice
from footdrop_outcomes.errors import ConvergenceError
from footdrop_outcomes.survival._missing import Missing, drop_incomplete

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["adherence_trend", "AdherenceTrend", "marginal_truth"]

Family = Literal["binomial", "gaussian"]
CovStruct = Literal["exchangeable", "ar1", "independence"]
Weights = Literal["none", "ipw"]


@dataclass(frozen=True, repr=False, kw_only=True)
class AdherenceTrend(AnalysisResult):
    """Population-averaged weekly adherence by group and program week (GEE).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per coefficient: ``term``, ``estimate`` (log odds for the binomial family,
        share for the Gaussian), ``se`` (robust), ``lower``, ``upper``, ``p``; on synthetic
        cohorts with the default binomial family ``truth_marginal`` (population-averaged target,
        :func:`marginal_truth`) and ``truth_conditional`` (the generator's subject-specific
        parameter, where the term has one).
    curves : pandas.DataFrame
        ``group``, ``program_week``, ``mean`` (standardised over the covariates of all analysed
        patients), ``lower``, ``upper`` (delta-method CI from the robust covariance), and the
        observed ``observed_mean`` and ``n`` at that week.
    fit : statsmodels GEEResults, or ExchangeableGEE
        The fitted model: for the exchangeable working correlation (the default without weights)
        :class:`~footdrop_outcomes.adherence._gee_fast.ExchangeableGEE` (``params``, ``bse``,
        ``cov_params()``, ``dep_params``, ``working_correlation()``: statsmodels' GEE algorithm,
        vectorised, the same estimates to 1e-8), else statsmodels' ``GEEResults``.
    """

    curves: pd.DataFrame
    fit: Any

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Fitted adherence curves with CI bands by group; observed weekly means as points."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        for label, d in self.curves.groupby("group", sort=False):
            line = ax.plot(d["program_week"], d["mean"], label=f"{self.info['group']} = {label}", **kwargs)[0]
            ax.fill_between(d["program_week"], d["lower"], d["upper"], color=line.get_color(), alpha=0.25, linewidth=0)
            ax.plot(d["program_week"], d["observed_mean"], "o", color=line.get_color(), markersize=2.5, alpha=0.6)
        ax.set_xlabel("weeks since program start")
        ax.set_ylabel("share of prescribed sessions completed")
        ax.set_title(f"GEE ({self.info['family']}, {self.info['cov_struct']}), 95% CI; points: observed means", fontsize="small")
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
        return ax


def _patient_weeks(cohort: Cohort, group: str, covariates: list[str], max_week: int) -> pd.DataFrame:
    from footdrop_outcomes.adherence.metrics import weekly_adherence

    w = weekly_adherence(cohort)
    w = w.loc[w["weekly_share"].notna() & (w["program_week"] < max_week),
              ["patient_id", "week", "program_week", "prescribed", "completed", "weekly_share"]]
    p = cohort.patients
    for col in [group, *covariates]:
        if col not in p.columns:
            raise AdherenceInputError(f"patients table has no column {col!r} (columns: {list(p.columns)[:15]})")
    cov = p[["patient_id", group, *[c for c in covariates if c != group]]].copy()
    cov["patient_id"] = cov["patient_id"].astype(str)
    w = w.assign(patient_id=w["patient_id"].astype(str)).merge(cov, on="patient_id", how="left")
    w = w.sort_values(["patient_id", "program_week"], kind="stable").reset_index(drop=True)
    return w


def adherence_trend(
    cohort: Cohort,
    *,
    group: str = "supervised_physio",
    covariates: str = "smoking + severity",
    family: Family = "binomial",
    cov_struct: CovStruct | None = None,
    max_week: int = 52,
    interaction: bool = True,
    alpha: float = 0.05,
    missing: Missing = "drop",
    weights: Weights = "none",
    dropout_covariates: str | None = None,
) -> AdherenceTrend:
    """Weekly home-exercise adherence by intervention and time: population-averaged GEE with robust SEs.

    Parameters
    ----------
    cohort : Cohort
        Supplies the adherence table (weekly session shares, with the bad-input rules of
        :func:`~footdrop_outcomes.adherence.weekly_adherence` at their defaults) and the patients.
    group : str
        Patients column defining the intervention groups (boolean or categorical), e.g.
        ``"supervised_physio"`` or ``"afo"``.
    covariates : str
        Further patients columns, ``+``-separated (categoricals get one indicator per level); ``""``
        for none.
    family : {"binomial", "gaussian"}
        Logit link on the share (quasi-binomial) or identity link.
    cov_struct : {"exchangeable", "ar1", "independence"}, optional
        Working correlation within patient (AR(1) over ``program_week``). Default:
        exchangeable, or independence with ``weights="ipw"`` (the only one allowed there).
    max_week : int
        Program weeks analysed: ``0 .. max_week - 1``.
    interaction : bool
        Let each group have its own decline (``group:program_week``).
    alpha : float
    missing : {"drop", "raise"}
        Patients with a missing ``group`` or covariate (e.g. smoking not recorded): every week
        of theirs is left out with a :class:`~footdrop_outcomes.survival.MissingDataWarning`
        and counted in ``info`` (``n_input`` and ``n_dropped_missing`` in patient-weeks,
        ``dropped_by_variable``, ``n_patients_input``, ``n_patients_dropped``, ``missing_data``);
        ``"raise"`` refuses them with an error naming column and rows. Unknown smoking is never
        counted as "not current".
    weights : {"none", "ipw"}
        ``"ipw"``: weight each patient-week by the stabilised inverse probability that the
        patient's record is still running (module notes), for records that end for reasons
        related to adherence (recovery). SEs account for the weights' estimation. Independence
        working correlation only.
    dropout_covariates : str, optional
        Baseline covariates of the record-end model (``weights="ipw"``), besides the program
        week and the adherence history; default the group and ``covariates``.

    Returns
    -------
    AdherenceTrend

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> t = adherence_trend(simulate_cohort(300, seed=1), max_week=20)
    >>> "program_week" in t.summary["term"].tolist()
    True
    """
    import statsmodels.api as sm

    from footdrop_outcomes._checks import formula_design
    from footdrop_outcomes.errors import FootdropError

    check_choice("family", family, get_args(Family))
    check_choice("weights", weights, get_args(Weights))
    if cov_struct is None:
        cov_struct = "independence" if weights == "ipw" else "exchangeable"
    check_choice("cov_struct", cov_struct, get_args(CovStruct))
    if weights == "ipw" and cov_struct != "independence":
        from footdrop_outcomes.errors import ConfigError

        raise ConfigError(f"weights='ipw' needs cov_struct='independence' (got {cov_struct!r}): with weights that change within "
                          "a patient, a non-independence working correlation is not consistent in general")
    if not (isinstance(max_week, (int, np.integer)) and max_week >= 2):
        raise AdherenceInputError(f"max_week must be an integer >= 2, got {max_week!r}")
    covs = [re.sub(r"^C\(\s*(\w+)\s*\)$", r"\1", c.strip()) for c in covariates.split("+") if c.strip()]  # C(x): as x
    w = _patient_weeks(cohort, group, covs, int(max_week))
    w, dropped = drop_incomplete(w, [group, *covs], missing=missing, model="adherence_trend", table="patient-weeks",
                                 group_col="patient_id")
    w = w.reset_index(drop=True)
    if w[group].nunique() < 2:
        raise AdherenceInputError(f"patients.{group}: everyone with adherence weeks is in one group; nothing to compare")
    # one dialect with survival and trajectories: categoricals detected from their type (terms ``afo[standard]``),
    # booleans as 0/1 (``supervised_physio``); a numeric group of codes is made categorical
    numeric_codes = pd.api.types.is_numeric_dtype(w[group]) and not pd.api.types.is_bool_dtype(w[group])
    gterm = f"C({group})" if numeric_codes else group
    rhs = f"{gterm} * program_week" if interaction else f"{gterm} + program_week"
    rhs += "".join(f" + {c}" for c in covs)
    fam = sm.families.Binomial() if family == "binomial" else sm.families.Gaussian()
    struct = {"exchangeable": sm.cov_struct.Exchangeable(), "ar1": sm.cov_struct.Autoregressive(grid=True),
              "independence": sm.cov_struct.Independence()}[cov_struct]
    time_arg = w["program_week"].to_numpy() if cov_struct == "ar1" else None
    try:
        design, xdf = formula_design(w, rhs, what="adherence trend model", table="patient-weeks", outcome="the weekly share")
    except FootdropError as exc:
        raise AdherenceInputError(f"the trend model cannot be built: {exc}") from exc
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    ipw_info: dict[str, Any] = {}
    if weights == "ipw":
        dcov = " + ".join([gterm, *covs]) if dropout_covariates is None else dropout_covariates
        fit, beta_s, cov_s, ipw_info = _ipw_fit(w, xdf, family=family, max_week=int(max_week), history=dcov, patients=cohort.patients)
        params = pd.Series(beta_s, index=xdf.columns)
        bse = pd.Series(np.sqrt(np.diag(cov_s)), index=xdf.columns)
        cov = cov_s
    elif cov_struct == "exchangeable":  # statsmodels' algorithm without its loops over patients (adherence._gee_fast)
        from statsmodels.tools.sm_exceptions import IterationLimitWarning

        from footdrop_outcomes.adherence._gee_fast import fit_exchangeable_gee

        try:
            fit = fit_exchangeable_gee(w["weekly_share"].to_numpy(float), xdf.to_numpy(float), w["patient_id"].to_numpy(), fam,
                                       maxiter=100)
        except np.linalg.LinAlgError:
            raise ConvergenceError("GEE did not converge (singular matrix in the GEE update); try cov_struct='independence' "
                                   "or fewer weeks") from None
        if not fit.converged:  # what statsmodels says then
            warnings.warn("Iteration limit reached prior to convergence", IterationLimitWarning, stacklevel=2)
        params, bse = pd.Series(fit.params, index=xdf.columns), pd.Series(fit.bse, index=xdf.columns)
        cov = fit.cov_params()
    else:
        model = sm.GEE(w["weekly_share"].to_numpy(float), xdf, groups=w["patient_id"].to_numpy(), family=fam, cov_struct=struct,
                       time=time_arg)
        with warnings.catch_warnings():
            # statsmodels warns that a binomial endog is not 0/1; the share is a quasi-binomial proportion on purpose
            warnings.filterwarnings("ignore", message=".*[Bb]inomial.*", category=Warning)
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                fit = model.fit(cov_type="robust", maxiter=100)
            except ConvergenceWarning as exc:
                raise ConvergenceError(f"GEE did not converge ({exc}); try cov_struct='independence' or fewer weeks") from None
        params, bse = fit.params, fit.bse
        cov = fit.cov_params().to_numpy()
    z = norm.ppf(1 - alpha / 2)
    names = list(params.index)
    summ = pd.DataFrame({"term": names, "estimate": params.to_numpy(), "se": bse.to_numpy()})
    summ["lower"] = summ["estimate"] - z * summ["se"]
    summ["upper"] = summ["estimate"] + z * summ["se"]
    summ["p"] = 2 * norm.sf(np.abs(summ["estimate"] / summ["se"]))
    if cohort.truth is not None and family == "binomial":
        if weights == "ipw":  # the full grid of weeks, each weighted by the share still recorded (module notes)
            grid, gw = _full_grid(w, int(max_week))
            mt = marginal_truth(cohort, grid, design.frame(grid, table="full-grid rows"), row_weights=gw)
        else:
            mt = marginal_truth(cohort, w, xdf)
        summ["truth_marginal"] = summ["term"].map(mt)
        summ["truth_conditional"] = summ["term"].map(_conditional_truth(cohort, group))

    # standardised curves: every analysed patient's covariates, group and week set
    pat = w.drop_duplicates("patient_id")
    levels = sorted(pd.unique(w[group]).tolist())
    weeks = np.arange(int(max_week))
    beta = params.to_numpy()
    obs = w.groupby([group, "program_week"], observed=True)["weekly_share"].agg(["mean", "size"])
    rows = []
    n_pat = len(pat)
    for lev in levels:
        # one design for every week at once (building it week by week was most of the curves' time)
        base = pat.assign(**{group: lev}).iloc[np.tile(np.arange(n_pat), len(weeks))].reset_index(drop=True)
        x_all = design.frame(base.assign(program_week=np.repeat(weeks, n_pat)), table="standardisation rows").to_numpy()
        for t in weeks:
            x = x_all[t * n_pat:(t + 1) * n_pat]
            eta = x @ beta
            if family == "binomial":
                mu = expit(eta)
                grad = (mu * (1 - mu)) @ x / len(mu)
            else:
                mu = eta
                grad = x.mean(axis=0)
            m = float(mu.mean())
            se = float(np.sqrt(grad @ cov @ grad))
            om, on = obs.loc[(lev, t)] if (lev, t) in obs.index else (np.nan, 0)
            rows.append({"group": lev, "program_week": int(t), "mean": m, "lower": m - z * se, "upper": m + z * se,
                         "observed_mean": float(om), "n": int(on)})
    curves = pd.DataFrame(rows)
    if hasattr(fit, "working_correlation"):
        corr = fit.working_correlation()
    else:
        corr = fit.model.cov_struct.summary() if hasattr(getattr(fit.model, "cov_struct", None), "summary") else ""
    method = f"GEE, {family} family, {cov_struct} working correlation, robust SEs"
    if weights == "ipw":
        method = (f"inverse-probability-of-dropout weighted GEE, {family} family, independence working correlation, "
                  "SEs from stacked estimating equations (record-end models and GEE)")
    info = {"method": method, "weights": weights, **ipw_info, "n": int(w["patient_id"].nunique()),
            "patient_weeks": len(w), "group": group, "covariates": covs, "family": family, "cov_struct": cov_struct,
            "max_week": int(max_week), "formula": f"weekly_share ~ {design.rhs}", "working_correlation": str(corr),
            "scale": "log odds (population-averaged)" if family == "binomial" else "share (population-averaged)", **dropped}
    return AdherenceTrend(summary=summ, info=info, curves=curves, fit=fit)


def _conditional_truth(cohort: Cohort, group: str) -> dict[str, float]:
    """The generator's subject-specific adherence parameters, named as the GEE terms."""
    assert cohort.truth is not None
    v = cohort.truth.parameters
    a = v[v["component"] == "adherence"].set_index("term")["value"]
    out = {"program_week": float(a["decline_per_week"]), "smoking[current]": float(a["smoking[current]"]),
           "smoking[former]": 0.0, "severity[severe]": float(a["severity[severe]"]), "severity[moderate]": 0.0}
    if group == "supervised_physio":
        out[group] = float(a["supervised_physio"])
        out[f"{group}:program_week"] = 0.0
    return out


def marginal_truth(cohort: Cohort, rows: pd.DataFrame, design: pd.DataFrame, *,
                   row_weights: np.ndarray | None = None) -> dict[str, float]:
    """Population-averaged (marginal) truth of a logistic model of the weekly share, from the generator.

    For every analysed patient-week the true *marginal* expected share is computed from the
    simulator's conditional model (docs/simulation.md, section 4), integrating the patient
    propensity and the weekly noise, ``N(0, logit_sd^2 + weekly_sd^2)``, by Gauss-Hermite
    quadrature and averaging the six exercises with the patient's prescribed sessions. The
    truth is the logistic projection of these expected shares on the model's design over the
    same rows (what a GEE estimates if the rows were missing completely at random).

    Parameters
    ----------
    cohort : Cohort
        A synthetic cohort (``cohort.truth``).
    rows : pandas.DataFrame
        Analysed rows with ``patient_id``, ``week`` and ``program_week``.
    design : pandas.DataFrame
        The model's design matrix on these rows (named columns).
    row_weights : numpy.ndarray, optional
        Weight of each row in the projection (the IPW target weights each week of the full grid
        by the share of patients still recorded in it). Rows may then be weeks the adherence
        table does not hold: each patient's prescription (constant over the program in the
        simulator) is taken from their first recorded week.

    Returns
    -------
    dict
        Coefficient name -> marginal truth (log odds).
    """
    import statsmodels.api as sm

    from footdrop_outcomes.cohort.vocabulary import EXERCISES

    if cohort.truth is None:
        raise AdherenceInputError("marginal_truth needs a synthetic cohort (cohort.truth is None)")
    par = cohort.truth.parameters
    a = par[par["component"] == "adherence"].set_index("term")["value"]
    p = cohort.patients.assign(patient_id=cohort.patients["patient_id"].astype(str)).set_index("patient_id")
    pid = rows["patient_id"].astype(str).to_numpy()
    pp = p.loc[pid]
    # the generator's own smoking status (v2 cohorts blank some recorded values; truth keeps them), never unknown as "not current"
    tp = cohort.truth.patients
    if "smoking_true" in tp.columns:
        smoking = tp.assign(patient_id=tp["patient_id"].astype(str)).set_index("patient_id")["smoking_true"].reindex(pid)
    else:
        smoking = pp["smoking"]
    if smoking.isna().any():
        raise AdherenceInputError("marginal_truth: smoking is missing for some analysed patient-weeks; the truth needs it "
                                  "(analyse complete cases, adherence_trend(missing='drop'))")
    mean = (a["logit_mean"] + a["supervised_physio"] * pp["supervised_physio"].astype(bool).to_numpy()
            + a["smoking[current]"] * (smoking.astype(str) == "current").to_numpy()
            + a["severity[severe]"] * (pp["severity"].astype(str) == "severe").to_numpy())
    eta = mean + a["decline_per_week"] * rows["program_week"].to_numpy()
    sd = float(np.sqrt(a["logit_sd"] ** 2 + a["weekly_sd"] ** 2))
    nodes, wts = np.polynomial.hermite_e.hermegauss(40)
    wts = wts / wts.sum()
    adh = cohort.adherence.assign(patient_id=cohort.adherence["patient_id"].astype(str))
    if row_weights is None:  # a merge, not .loc with a MultiIndex (same rows, several times faster)
        cols = ["patient_id", "week", *[f"{ex}_prescribed" for ex in EXERCISES]]
        adh = pd.DataFrame({"patient_id": pid, "week": rows["week"].to_numpy()}).merge(adh[cols], on=["patient_id", "week"], how="left",
                                                                                      validate="many_to_one")
        if adh[cols[2:]].isna().any().any():
            raise AdherenceInputError("marginal_truth: some analysed rows are not in the adherence table (patient_id, week)")
    else:
        adh = adh.sort_values(["patient_id", "week"], kind="stable").drop_duplicates("patient_id").set_index("patient_id").loc[pid]
    num = np.zeros(len(rows))
    den = np.zeros(len(rows))
    # eta takes few distinct values (covariate pattern x week): integrate each once (the same numbers, fewer expit calls)
    eta_u, eta_inv = np.unique(np.asarray(eta, dtype=float), return_inverse=True)
    for ex in EXERCISES:
        n_x = adh[f"{ex}_prescribed"].to_numpy(float)
        off = float(a[f"exercise[{ex}]"])
        # marginal P(complete) for this exercise: E expit(eta + off + sd * Z)
        m = (expit((eta_u + off)[:, None] + sd * nodes[None, :]) @ wts)[eta_inv]
        num += n_x * m
        den += n_x
    # the projection on distinct (design row, share) pairs, each weighted by how often it occurs: the same estimating
    # equations as over every row, on several times fewer rows (agrees to ~1e-12)
    x = design.to_numpy(float)
    yw = np.column_stack([x, num / den, np.ones(len(x)) if row_weights is None else np.asarray(row_weights, float)])
    uniq, inv = np.unique(yw, axis=0, return_inverse=True)
    counts = np.bincount(inv.ravel(), minlength=len(uniq)).astype(float)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Bb]inomial.*", category=Warning)
        glm = sm.GLM(uniq[:, -2], pd.DataFrame(uniq[:, :-2], columns=design.columns), family=sm.families.Binomial(),
                     var_weights=counts * uniq[:, -1]).fit(tol=1e-12)
    return {k: float(v) for k, v in glm.params.items()}


def _full_grid(w: pd.DataFrame, max_week: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Every analysed patient's program weeks ``0..max_week-1`` (their columns repeated), and each week's share still recorded."""
    pat = w.drop_duplicates("patient_id").reset_index(drop=True)
    first = (pat["week"] - pat["program_week"]).to_numpy()
    k = np.tile(np.arange(max_week), len(pat))
    grid = pat.iloc[np.repeat(np.arange(len(pat)), max_week)].reset_index(drop=True)
    grid["program_week"] = k
    grid["week"] = np.repeat(first, max_week) + k
    last = w.groupby("patient_id", sort=False)["program_week"].max().reindex(pat["patient_id"]).to_numpy()
    share = np.array([(last >= t).mean() for t in range(max_week)])
    return grid, share[k]


def _ipw_fit(w: pd.DataFrame, xdf: pd.DataFrame, *, family: str, max_week: int, history: str,
             patients: pd.DataFrame) -> tuple[Any, np.ndarray, np.ndarray, dict[str, Any]]:
    """Inverse-probability-of-dropout weighted GEE (independence) with stacked-equation covariance.

    Estimating equations ``sum_j w_j x_j (y_j - mu_j) = 0`` (logit or identity link; the
    quasi-likelihood score of both); ``w_j`` from :func:`~footdrop_outcomes.adherence._ipcw.record_end_weights`.
    Influence of ``beta`` per patient: ``A^{-1} [sum_j w_j x_j (y_j - mu_j) + G psi_i]``,
    ``A = sum_j w_j d mu_j/d eta x_j x_j'``, ``G = sum_j x_j (y_j - mu_j) (dw_j/dgamma)'``.
    """
    import statsmodels.api as sm

    from footdrop_outcomes.adherence._ipcw import record_end_weights

    cl = pd.factorize(w["patient_id"])[0]
    n = int(cl.max()) + 1
    k = w["program_week"].to_numpy()
    last = pd.Series(k).groupby(cl).transform("max").to_numpy()
    at_risk = k < max_week - 1
    ends = (k == last) & at_risk
    # history known before each week: cumulative session share and last recorded week's share
    g = w.groupby(cl, sort=False)
    cum = (g["completed"].cumsum() - w["completed"]) / (g["prescribed"].cumsum() - w["prescribed"]).replace(0, np.nan)
    rows = w.assign(adherence_cumulative=cum.to_numpy(), adherence_last_week=g["weekly_share"].shift(1).to_numpy())
    extra = [c for c in patients.columns if c not in rows.columns]  # baseline columns the dropout model may name
    if extra:
        p = patients[["patient_id", *extra]].assign(patient_id=patients["patient_id"].astype(str)).set_index("patient_id")
        rows = pd.concat([rows, p.reindex(rows["patient_id"].astype(str)).reset_index(drop=True).set_axis(rows.index)], axis=1)
    for c in ("adherence_cumulative", "adherence_last_week"):
        rows[c] = rows[c].fillna(rows[c].mean())  # the first week (nothing known yet): the mean
    rec = record_end_weights(rows, cluster=cl, at_risk=at_risk, ends=ends,
                             history=" + ".join([h for h in [history.strip()] if h] + [
                                 "adherence_cumulative", "adherence_last_week",
                                 # the cumulative share's effect changes over the program (its link to recovery builds up)
                                 "adherence_cumulative:bs(program_week, df=4)"]),
                             time_col="program_week", what="record-end (dropout) model of the weighted GEE")
    wt = rec.weights
    y = w["weekly_share"].to_numpy(float)
    x = xdf.to_numpy(float)
    fam = sm.families.Binomial() if family == "binomial" else sm.families.Gaussian()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Bb]inomial.*", category=Warning)
        fit = sm.GLM(y, xdf, family=fam, var_weights=wt).fit(tol=1e-10, maxiter=100)
    beta = fit.params.to_numpy()
    mu = fit.fittedvalues.to_numpy() if hasattr(fit.fittedvalues, "to_numpy") else np.asarray(fit.fittedvalues)
    dmu = mu * (1 - mu) if family == "binomial" else np.ones_like(mu)
    a = x.T @ (x * (wt * dmu)[:, None])
    score = x * (y - mu)[:, None]
    fixed = np.zeros((n, x.shape[1]))
    np.add.at(fixed, cl, score * wt[:, None])
    total = fixed.copy()
    for dw, psi, psi_cl in rec.nuisance:
        total[psi_cl] += psi @ (score.T @ dw).T
    a_inv = np.linalg.inv(a)
    cov = a_inv @ (total.T @ total) @ a_inv
    cov_fixed = a_inv @ (fixed.T @ fixed) @ a_inv
    info = {"se_fixed_weights": dict(zip(xdf.columns, np.sqrt(np.diag(cov_fixed)))), "dropout_model": rec.model,
            "dropout_covariates": history, "n_records_ended": rec.n_ends, "ipw_range": (float(wt.min()), float(wt.max()))}
    return fit, beta, cov, info
