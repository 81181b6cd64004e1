"""Linear mixed models of recovery trajectories (gait speed, range of motion, MRC as continuous).

:func:`fit_trajectory` fits

    y_ij = x_ij' b + z_ij' u_i + e_ij,   u_i ~ N(0, Sigma),   e_ij ~ N(0, sigma^2)

with one row per visit ``j`` of patient ``i``. Fixed effects come from a right-hand-side
formula in which the token ``time`` stands for the time basis (``log(1 + weeks)``, column
``lw``; linear weeks, ``weeks``; linear months, ``months``; or a natural cubic spline in
``lw``, columns ``lw``, ``ns1``, ...), so ``"time * (cause + severity) + age_c + diabetes"``
gives cause x time and severity x time terms; writing the basis column itself
(``"weeks * severity"``) chooses that basis, and a time variable of another basis is refused.
The random slope, the curves, the plots and the time to an MCID all follow the basis.
Random effects per patient: an intercept, an intercept and a slope on the first basis
column, or an intercept and every basis column. REML (default) or ML. With ``site_col`` the
model has three levels, visits within patients within sites: a random site intercept (or site
intercept and slope) beside the patient effects, fitted by the nested engine
:mod:`footdrop_outcomes.trajectories._fast3` (lme4's ``(1 + lw | id) + (1 | site)``).

Engines
-------
``engine="fast"`` (default) maximises lme4's profiled (RE)ML criterion over the relative
Cholesky factor ``theta`` with the analytic gradient, computed from per-patient sufficient
statistics (:mod:`footdrop_outcomes.trajectories._fast`): 20,000 patients x 6 visits fit in well
under a second. L-BFGS-B is tried from the moment start and from lme4's start, then Powell;
if none converges, the result says so (``info["converged"]``) and a
:class:`TrajectoryFitWarning` is issued. ``engine="statsmodels"`` fits the same model with
statsmodels ``MixedLM`` (optimisers tried in turn: L-BFGS, BFGS, CG, Powell, Nelder-Mead); its
warnings are passed on as :class:`TrajectoryFitWarning` and recorded. Both engines report the
same quantities, computed the same way from the variance parameters:

* fixed-effect covariance ``sigma^2 (X'V^{-1}X)^{-1}`` given the variance parameters, as lme4's
  ``vcov()`` (statsmodels' own ``bse_fe`` inverts the joint Hessian and differs slightly);
* variance components as lme4's ``VarCorr``: SDs of the random effects, their correlation, the
  residual SD, with Wald CIs on the log-SD / Fisher-z scale from the observed information of the
  (restricted) likelihood;
* log-likelihood: REML fits report the REML criterion as lme4 does (``logLik`` of a REML fit),
  ML fits the ML log-likelihood; AIC and BIC from it with ``p + q(q+1)/2 + 1`` parameters.

Boundary fits (a random-effect SD at 0, or a correlation at +-1) are flagged in
``info["boundary"]`` and warned about; the LR test for a variance component on the boundary is
conservative (chi-bar-square), see :func:`compare_models`.
"""

from __future__ import annotations

import math
import time as _time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.stats import chi2

from footdrop_outcomes._checks import check_alpha, p_value, zq
from footdrop_outcomes._result import AnalysisResult
from footdrop_outcomes._threads import limit_threads
from footdrop_outcomes.errors import ConfigError, FootdropError, FootdropWarning
from footdrop_outcomes.survival._missing import Missing
from footdrop_outcomes.trajectories import _fast, _fast3
from footdrop_outcomes.trajectories._curves import MeanCurves
from footdrop_outcomes.trajectories._design import (
    Design,
    Prepared,
    RandomEffects,
    TimeBasisKind,
    check_choice,
    prepare,
    reference_column,
    versions,
    weeks_grid,
)

if TYPE_CHECKING:
    from footdrop_outcomes.cohort.cohort import Cohort

__all__ = ["Engine", "Method", "SiteLevel", "SiteRandom", "TrajectoryFitWarning", "TrajectoryResult", "compare_models",
           "fit_trajectory"]

Method = Literal["reml", "ml"]
Engine = Literal["fast", "statsmodels"]
SiteRandom = Literal["intercept", "slope"]

DEFAULT_FORMULA = "time * (cause + severity) + age_c + diabetes + current_smoker + fes"
_BOUNDARY_SD = 1e-4  # relative SD (random-effect SD x RMS of its column / residual SD) below which a component is at 0
_BOUNDARY_CORR = 0.999


class TrajectoryFitWarning(FootdropWarning):
    """A mixed-model fit on the boundary (SD 0 or correlation +-1), not converged, or warned by statsmodels."""


# ------------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, kw_only=True)
class SiteLevel:
    """The site level of a three-level fit (visits within patients within sites).

    Attributes
    ----------
    site_col : str
        Site column.
    random : {"intercept", "slope"}
        Site random effects: an intercept, or an intercept and a slope on the first basis column.
    names : tuple of str
        Site random-effect names (``Intercept``, ``lw``).
    sites : numpy.ndarray
        Site labels, in the order of the engine's site blocks.
    wmat : numpy.ndarray
        Site random-effect design of the fitted rows (rows as ``prepared``).
    theta : numpy.ndarray
        lme4's ``theta`` block of the site term: Cholesky factor of ``cov_re / sigma^2``.
    cov_re : pandas.DataFrame
        Covariance of the site random effects (absolute scale).
    blocks : footdrop_outcomes.trajectories._fast3.Blocks3
        Nested sufficient statistics.
    """

    site_col: str
    random: str
    names: tuple[str, ...]
    sites: np.ndarray
    wmat: np.ndarray
    theta: np.ndarray
    cov_re: pd.DataFrame
    blocks: _fast3.Blocks3


@dataclass(frozen=True, repr=False, kw_only=True)
class TrajectoryResult(MeanCurves, AnalysisResult):
    """A fitted linear mixed model of a recovery trajectory.

    Attributes
    ----------
    summary : pandas.DataFrame
        Fixed effects: ``term``, ``estimate``, ``se`` (lme4's, see module notes), ``lower``,
        ``upper`` (Wald CI at level ``1 - alpha``), ``z``, ``p`` (normal reference; lme4
        prints no p-values, use them with care in small samples).
    info : dict
        ``method`` (REML/ML), ``engine``, ``optimizer``, ``converged``, ``boundary``,
        ``projected_gradient``, ``convergence`` (the documented criterion and its two numbers,
        ``projected_gradient`` and ``relative_change``: see :mod:`footdrop_outcomes.trajectories._fast`),
        ``attempts``, ``formula`` (as given) and ``formula_expanded``,
        ``time_basis``, ``random``, ``outcome``, ``n`` (visits used), ``groups`` (patients),
        ``n_missing_outcome`` (rows dropped), ``dropped_levels`` (declared but absent
        categories), ``aic``, ``bic``, ``icc``, ``fit_seconds``, ``warnings``, ``versions``.
    params : pandas.Series
        Fixed effects.
    cov : pandas.DataFrame
        Their covariance ``sigma^2 (X'V^{-1}X)^{-1}``.
    cov_re : pandas.DataFrame
        Covariance matrix of the random effects (absolute scale).
    sigma : float
        Residual SD.
    theta : numpy.ndarray
        lme4's ``theta``: lower-triangular Cholesky factor of ``cov_re / sigma^2``, by column
        (patient term; a three-level fit's site term is in ``site.theta``).
    log_likelihood : float
        REML criterion (REML fits) or log-likelihood (ML), as lme4's ``logLik``.
    alpha : float
    site : SiteLevel or None
        The site level of a three-level fit (``fit_trajectory(..., site_col=)``), else None.
    """

    params: pd.Series
    cov: pd.DataFrame
    cov_re: pd.DataFrame
    sigma: float
    theta: np.ndarray
    log_likelihood: float
    alpha: float
    design: Design
    prepared: Prepared
    blocks: _fast.Blocks
    site: SiteLevel | None = None

    def __repr__(self) -> str:
        i = self.info
        flag = "" if i["converged"] and not i["boundary"] else f", converged={i['converged']}, boundary={i['boundary']}"
        sites = "" if self.site is None else f", site random={self.site.random}, sites={i['sites']}"
        return (f"TrajectoryResult({i['outcome']} ~ {i['formula']}, random={i['random']}{sites}, {i['method']}, "
                f"n={i['n']}, groups={i['groups']}, log-likelihood={self.log_likelihood:.3f}{flag})")

    @property
    def reml(self) -> bool:
        return self.info["method"] == "REML"

    @property
    def n_params(self) -> int:
        """Fixed effects + variance parameters + residual variance (lme4's ``df`` of ``logLik``)."""
        n_site = 0 if self.site is None else _fast.n_theta(self.site.blocks.qs)
        return len(self.params) + _fast.n_theta(self.blocks.q) + n_site + 1

    @property
    def aic(self) -> float:
        """``-2 logLik + 2 n_params`` (for REML fits, of the REML criterion, as lme4)."""
        return -2 * self.log_likelihood + 2 * self.n_params

    @property
    def bic(self) -> float:
        """``-2 logLik + log(n visits) n_params``."""
        return -2 * self.log_likelihood + math.log(self.blocks.n_obs) * self.n_params

    def icc(self, weeks: float = 0.0) -> float:
        """Share of the outcome's variance at ``weeks`` that lies between patients.

        ``z' Sigma z / (z' Sigma z + sigma^2)`` with ``z`` the random-effect design at that time
        (for a random intercept alone, the usual ICC, the same at every time). In a three-level
        fit the between-patient variance includes the site variance ``w' Sigma_site w``
        (patients of different sites differ by both); :meth:`icc_site` gives the site share.
        """
        z = self._z_at(np.array([float(weeks)]))[0]
        between = float(z @ self.cov_re.to_numpy() @ z)
        site = self._site_var(weeks)
        return (between + site) / (between + site + self.sigma**2)

    def icc_site(self, weeks: float = 0.0) -> float:
        """Share of the outcome's variance at ``weeks`` that lies between sites (three-level fits; NaN otherwise)."""
        if self.site is None:
            return math.nan
        z = self._z_at(np.array([float(weeks)]))[0]
        total = float(z @ self.cov_re.to_numpy() @ z) + self._site_var(weeks) + self.sigma**2
        return self._site_var(weeks) / total

    def _site_var(self, weeks: float) -> float:
        if self.site is None:
            return 0.0
        qs = self.site.blocks.qs
        tb = self.design.basis.evaluate(np.array([float(weeks)]))
        w = np.r_[1.0, tb[0, : qs - 1]]
        return float(w @ self.site.cov_re.to_numpy() @ w)

    def _z_at(self, weeks: np.ndarray) -> np.ndarray:
        q = self.blocks.q
        tb = self.design.basis.evaluate(weeks)
        return np.column_stack([np.ones(weeks.size), tb[:, : q - 1]])

    @cached_property
    def variance_components(self) -> pd.DataFrame:
        """Random-effect SDs, correlations and the residual SD, as lme4's ``VarCorr``, with Wald CIs.

        Columns ``component`` (``sd_intercept``, ``sd_slope`` (on ``lw``), ``corr_intercept_slope``,
        ``sd_residual``; spline slopes ``sd_ns2``...), ``group``, ``var1``, ``var2``, ``vcov``,
        ``sdcor`` (= ``estimate``), ``lower``, ``upper`` and ``note``. CIs are Wald intervals on
        the log-SD and Fisher-z scales from the observed information of the (restricted)
        likelihood (numerical Hessian); for a boundary fit they are not available (NaN, with
        the reason in ``note``). A last row ``icc`` gives :meth:`icc` at week 0.
        """
        return _variance_table(self)

    def blups(self) -> pd.DataFrame:
        """Best linear unbiased predictions of each patient's random effects.

        Returns
        -------
        pandas.DataFrame
            One row per patient: the id column, ``n_visits``, one column per random effect
            (``Intercept``, ``lw``, ...) and ``se_<name>``: the conditional SD of the random
            effect given the data (lme4's ``condVar``, at the estimated parameters). In a
            three-level fit these are the patients' deviations from their site (see
            :meth:`site_effects`) and the id column is followed by the site column.
        """
        if self.site is not None:
            return self._blups3()[0]
        bl, d = self.blocks, self._d_rel()
        ev = _fast.evaluate(self.theta, bl, self.reml, gradient=False)
        w = bl.z - bl.g @ self.params.to_numpy()
        u = np.einsum("gab,gb->ga", ev.k, w) @ d.T  # D K_i w_i  (D symmetric)
        var = self.sigma**2 * ev.h
        out = pd.DataFrame({self.prepared.id_col: self.prepared.ids, "n_visits": bl.counts})
        names = self.prepared.z_names
        for j, name in enumerate(names):
            out[name] = u[:, j]
        for j, name in enumerate(names):
            out[f"se_{name}"] = np.sqrt(np.maximum(var[:, j, j], 0.0))
        return out

    def _d_rel(self) -> np.ndarray:
        return _fast.theta_to_d(self.theta, self.blocks.q)

    def site_effects(self) -> pd.DataFrame:
        """Best linear unbiased predictions of each site's random effects (three-level fits).

        Returns
        -------
        pandas.DataFrame
            One row per site: the site column, ``n_patients``, ``n_visits``, one column per site
            random effect (``Intercept``, ``lw``) and ``se_<name>``, the conditional SD given
            the data (lme4's ``condVar``).
        """
        if self.site is None:
            raise ConfigError("site_effects needs a three-level fit: fit_trajectory(..., site_col=...)")
        return self._blups3()[1]

    def _blups3(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        site = self.site
        assert site is not None
        b3 = site.blocks
        sigma2 = self.sigma**2
        d = self._d_rel()
        d_s = _fast.theta_to_d(site.theta, b3.qs)
        ev = _fast3.evaluate3(np.r_[self.theta, site.theta], b3, self.reml, gradient=False)
        beta = self.params.to_numpy()
        e_s = ev.f_y - ev.f_site @ beta
        v = np.einsum("ab,sbc,sc->sa", d_s, ev.ks, e_s)  # D_s W'V^-1 e
        wvw = ev.ks @ ev.t
        var_s = sigma2 * (d_s - d_s @ wvw @ d_s)
        kc = ev.k @ b3.c
        hs_e = np.einsum("sab,sb->sa", ev.hs, e_s)[b3.site_of]
        w = b3.z - np.einsum("gap,p->ga", b3.g, beta)
        a_pat = np.einsum("gab,gb->ga", ev.k, w) - np.einsum("gab,gb->ga", kc, hs_e)
        u = a_pat @ d.T
        zvz = ev.k @ b3.s - kc @ ev.hs[b3.site_of] @ np.swapaxes(kc, 1, 2)
        var_u = sigma2 * (d - d @ zvz @ d)
        pr = self.prepared
        inv = np.empty_like(b3.order)
        inv[b3.order] = np.arange(b3.order.size)  # patient code -> position in site order
        site_of_code = site.sites[b3.site_of[inv]]
        pats = pd.DataFrame({pr.id_col: pr.ids, site.site_col: site_of_code, "n_visits": b3.counts[inv]})
        for j, name in enumerate(pr.z_names):
            pats[name] = u[inv, j]
        for j, name in enumerate(pr.z_names):
            pats[f"se_{name}"] = np.sqrt(np.maximum(var_u[inv, j, j], 0.0))
        n_pat = np.diff(np.r_[b3.site_starts, b3.n_groups])
        n_vis = np.add.reduceat(b3.counts, b3.site_starts)
        sites = pd.DataFrame({site.site_col: site.sites, "n_patients": n_pat, "n_visits": n_vis})
        for j, name in enumerate(site.names):
            sites[name] = v[:, j]
        for j, name in enumerate(site.names):
            sites[f"se_{name}"] = np.sqrt(np.maximum(var_s[:, j, j], 0.0))
        return pats, sites

    def _site_part(self) -> np.ndarray:
        """Per fitted row, ``w'v_s`` (the site BLUP contribution; 0 without a site level)."""
        if self.site is None:
            return np.zeros(self.blocks.n_obs)
        eff = self.site_effects().set_index(self.site.site_col)[list(self.site.names)]
        rows = self.prepared.frame[self.site.site_col].to_numpy()
        return np.sum(self.site.wmat * eff.loc[rows].to_numpy(), axis=1)

    def residuals(self) -> pd.DataFrame:
        """Visit-level fitted values and residuals (the rows used by the fit, sorted by patient and time).

        Returns
        -------
        pandas.DataFrame
            The id column, ``weeks``, ``observed``, ``fitted_population`` (``x'b``),
            ``fitted_patient`` (``x'b + z'u_i`` with the BLUPs; in a three-level fit plus the
            site's ``w'v_s``), ``residual`` (observed minus patient fit) and ``residual_std``
            (divided by sigma).
        """
        pr = self.prepared
        pop = pr.x @ self.params.to_numpy()
        bl = self.blups()
        u = bl[list(pr.z_names)].to_numpy()[pr.codes]
        cond = pop + np.sum(pr.zmat * u, axis=1) + self._site_part()
        out = pd.DataFrame({pr.id_col: pr.frame[pr.id_col].to_numpy(), "weeks": pr.frame["__t"].to_numpy(),
                            "observed": pr.y, "fitted_population": pop, "fitted_patient": cond})
        out["residual"] = out["observed"] - out["fitted_patient"]
        out["residual_std"] = out["residual"] / self.sigma
        return out

    def patient_trajectories(self, ids: Sequence[Any] | None = None, weeks: Any = None) -> pd.DataFrame:
        """Predicted trajectories of individual patients (fixed effects plus their BLUPs).

        Parameters
        ----------
        ids : sequence, optional
            Patient ids (default: all patients of the fit).
        weeks : array, optional
            Weeks since onset (default: a grid over the observed range).

        Returns
        -------
        pandas.DataFrame
            The id column, ``weeks``, ``population`` (``x'b``) and ``predicted`` (``x'b + z'u_i``;
            in a three-level fit plus the site's ``w'v_s``).
        """
        pr = self.prepared
        bl = self.blups().set_index(pr.id_col)
        if ids is None:
            ids = list(bl.index)
        unknown = [i for i in ids if i not in bl.index]
        if unknown:
            raise FootdropError(f"ids {unknown[:8]} are not patients of this fit ({pr.id_col})")
        w = weeks_grid(weeks, float(pr.frame["__t"].max()))
        first = pr.frame.drop_duplicates(pr.id_col).set_index(pr.id_col)
        prof = first.loc[list(ids), list(self.design.variables)].reset_index()
        rep = prof.loc[np.repeat(np.arange(len(prof)), w.size)].reset_index(drop=True)
        ww = np.tile(w, len(prof))
        x = self.design.matrix(rep, ww)
        z = self._z_at(ww)
        u = bl.loc[rep[pr.id_col], list(pr.z_names)].to_numpy()
        pop = x @ self.params.to_numpy()
        pred = pop + np.sum(z * u, axis=1)
        if self.site is not None:
            qs = self.site.blocks.qs
            eff = self.site_effects().set_index(self.site.site_col)[list(self.site.names)]
            v = eff.loc[bl.loc[rep[pr.id_col], self.site.site_col]].to_numpy()
            wz = np.column_stack([np.ones(ww.size), self.design.basis.evaluate(ww)[:, : qs - 1]])
            pred = pred + np.sum(wz * v, axis=1)
        return pd.DataFrame({pr.id_col: rep[pr.id_col].to_numpy(), "weeks": ww, "population": pop, "predicted": pred})

    def plot(self, ax: Any = None, *, by: str | None = "default", n_patients: int = 40, seed: int = 0,
             at: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Spaghetti plot: observed trajectories of a random sample of patients under the fitted
        population-mean curves (with CI bands) for each level of ``by``.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        by : str or None
            Categorical variable whose levels get one curve each (default: the first one that
            interacts with time).
        n_patients, seed : int
            Size and seed of the sample of patients drawn.
        at : dict, optional
            Values of the other covariates for the curves (see :meth:`trajectories`).

        Returns
        -------
        matplotlib Axes
        """
        title = kwargs.get("title", f"{self.prepared.outcome}: {self.info['method']} mixed model, {self.info['time_basis']}")
        return self._spaghetti(ax, by=by, n_patients=n_patients, seed=seed, at=at, title=title)

    def plot_residuals(self) -> Any:
        """Residual diagnostics: residuals vs fitted, normal QQ of residuals, residuals vs time,
        normal QQ of the random-intercept BLUPs. Returns the matplotlib Figure."""
        import matplotlib.pyplot as plt
        from scipy.stats import norm

        r = self.residuals()
        fig, axes = plt.subplots(2, 2, figsize=(9, 7))
        ax = axes[0, 0]
        ax.scatter(r["fitted_patient"], r["residual"], s=3, alpha=0.3, color="black")
        ax.axhline(0, color="red", linewidth=1)
        ax.set_xlabel("fitted (patient)")
        ax.set_ylabel("residual")
        ax.set_title("residuals vs fitted")
        for a, values, title in ((axes[0, 1], r["residual_std"].to_numpy(), "normal QQ: standardised residuals"),
                                 (axes[1, 1], self.blups()["Intercept"].to_numpy(), "normal QQ: random intercepts (BLUP)")):
            v = np.sort(values)
            theo = norm.ppf((np.arange(1, v.size + 1) - 0.5) / v.size)
            a.scatter(theo, v, s=3, alpha=0.4, color="black")
            lo, hi = theo[[0, -1]]
            sd = float(np.std(v)) if v.size > 1 else 1.0
            a.plot([lo, hi], [float(np.mean(v)) + lo * sd, float(np.mean(v)) + hi * sd], color="red", linewidth=1)
            a.set_xlabel("normal quantile")
            a.set_title(title)
        ax = axes[1, 0]
        ax.scatter(self.design.basis.in_unit(r["weeks"].to_numpy()), r["residual"], s=3, alpha=0.3, color="black")
        ax.axhline(0, color="red", linewidth=1)
        ax.set_xlabel(self.design.basis.axis_label)
        ax.set_ylabel("residual")
        ax.set_title("residuals vs time")
        fig.suptitle(f"{self.prepared.outcome}: residual diagnostics")
        fig.tight_layout()
        return fig


# ------------------------------------------------------------------------------------------------
# fitting


@limit_threads
def fit_trajectory(
    data: Cohort | pd.DataFrame,
    outcome: str = "gait_speed",
    formula: str = DEFAULT_FORMULA,
    *,
    time: TimeBasisKind | None = None,
    df: int = 3,
    knots: Sequence[float] | None = None,
    random: RandomEffects = "slope",
    method: Method = "reml",
    engine: Engine = "fast",
    id_col: str = "patient_id",
    time_col: str = "weeks",
    alpha: float = 0.05,
    progress: bool | None = None,
    reference: Mapping[str, Any] | None = None,
    missing: Missing = "drop",
    site_col: str | None = None,
    site_random: SiteRandom = "intercept",
) -> TrajectoryResult:
    """Fit a linear mixed model of an outcome over time since onset.

    Parameters
    ----------
    data : Cohort or pandas.DataFrame
        A cohort (its visits are turned into a long table by
        :func:`~footdrop_outcomes.trajectories.trajectory_frame`) or one row per visit.
    outcome : str
        Outcome column (``gait_speed``, ``rom_deg``, ``mrc``, ...). Rows where it is missing
        are dropped and counted (``info["n_missing_outcome"]``).
    formula : str
        Fixed effects, right-hand side; ``time`` stands for the time basis, e.g.
        ``"time * (cause + severity) + age_c + diabetes"``. A time variable may be written
        instead: ``lw`` (log basis), ``weeks`` (or ``time_col``: linear weeks) or ``months``;
        it sets the basis when ``time`` is not given, and must agree with it when it is (else
        :class:`~footdrop_outcomes.ConfigError` naming the term). Categorical columns are
        detected from their dtype; levels are compared with the reference level (``reference``,
        else a pandas categorical's first category, else for a text column the first in sorted
        order: the summary's ``reference`` column says which); terms are named
        ``severity[moderate]``, ``lw:cause[stroke]``.
    time : {"log", "linear", "months", "spline"}, optional
        Time basis: ``log(1 + weeks)`` (column ``lw``); weeks since onset (column ``weeks``);
        months since onset (column ``months``, 30.4375 days); or a natural cubic spline in
        ``lw`` with ``df`` columns (``lw``, ``ns1``, ...), knots at quantiles of the visit
        times or at ``knots`` (weeks). Default: the basis of the formula's time variable,
        ``"log"`` when it only writes ``time``. The random slope, the curves, the plots and
        :meth:`~TrajectoryResult.time_to_mcid` all use this basis.
    df : int
        Degrees of freedom of the spline (2 to 4).
    knots : sequence of float, optional
        Spline knots in weeks (3 or more), instead of quantiles.
    random : {"intercept", "slope", "basis"}
        Random intercept; intercept and slope on the first basis column (``lw``, ``weeks`` or
        ``months``); or intercept and every basis column.
    method : {"reml", "ml"}
        REML (default) or maximum likelihood (needed to compare fixed effects by LR test).
    engine : {"fast", "statsmodels"}
        Fitting engine (see module notes); both give the same estimates.
    id_col, time_col : str
        Patient id column and time since onset in weeks.
    alpha : float
        1 - confidence level of all intervals.
    progress : bool, optional
        Show a progress bar (stderr) while fitting; default: only for statsmodels fits with
        more than 2,000 patients.
    reference : dict, optional
        Reference level per factor, e.g. ``{"cause": "stroke"}``.
    missing : {"drop", "raise"}
        Patients with a missing covariate are dropped with a warning, or refused.
    site_col : str, optional
        Site (clinic) column: fits the three-level model, visits within patients within sites
        (lme4's ``(1 + lw | id) + (1 | site)``), with random site effects beside the patient
        ones. Each patient must belong to one site; the fast engine only.
    site_random : {"intercept", "slope"}
        Site random effects: an intercept, or an intercept and a slope on the first basis
        column (correlated, lme4's ``(1 + lw | site)``).

    Returns
    -------
    TrajectoryResult

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> fit = fit_trajectory(simulate_cohort(300, seed=1), "gait_speed", "time * severity + age_c")
    >>> fit.summary["term"].tolist()[:3]
    ['Intercept', 'lw', 'severity[moderate]']
    >>> fit.variance_components["component"].tolist()
    ['sd_intercept', 'sd_slope', 'corr_intercept_slope', 'sd_residual', 'icc']
    """
    check_choice("method", method, get_args(Method))
    check_choice("engine", engine, get_args(Engine))
    check_choice("random", random, get_args(RandomEffects))
    check_alpha(alpha)
    if progress is not None and not isinstance(progress, bool):
        raise ConfigError(f"progress must be True, False or None, got {progress!r}")
    if site_col is not None:
        check_choice("site_random", site_random, get_args(SiteRandom))
        if engine != "fast":
            raise ConfigError("three-level fits (site_col=) need engine='fast'; engine='statsmodels' fits patients only")
    pr = prepare(data, outcome, formula, time=time, df=df, knots=knots, random=random, id_col=id_col, time_col=time_col,
                 reference=reference, missing=missing, model="fit_trajectory",
                 keep=(site_col,) if isinstance(site_col, str) else ())
    if site_col is not None and (not isinstance(site_col, str) or site_col not in pr.frame.columns):
        raise FootdropError(f"the visit table has no column {site_col!r} given as site_col")
    reml = method == "reml"
    t0 = _time.perf_counter()
    bl = _fast.blocks(pr.y, pr.x, pr.zmat, pr.codes)
    texts: list[str] = []
    if site_col is not None:
        site_codes, sites, wmat, w_names = _site_design(pr, site_col, site_random)
        theta, ev, opt, site_level = _fit_fast3(bl, pr, reml, bool(progress), site_col, site_random, site_codes, sites,
                                                wmat, w_names)
        seconds = _time.perf_counter() - t0
        return _build(pr, bl, theta, ev, opt, reml=reml, engine=engine, random=random, alpha=alpha, seconds=seconds,
                      texts=texts, site=site_level)
    if engine == "fast":
        show = bool(progress)
        theta, ev, opt = _fit_fast(bl, reml, show, pr)
    else:
        show = progress if progress is not None else bl.n_groups > 2000
        theta, ev, opt, texts = _fit_statsmodels(pr, bl, reml, show)
    seconds = _time.perf_counter() - t0
    return _build(pr, bl, theta, ev, opt, reml=reml, engine=engine, random=random, alpha=alpha, seconds=seconds, texts=texts)


def _moment_start(bl: _fast.Blocks) -> np.ndarray:
    """Start ``theta`` from per-patient least squares (patients with more visits than random effects)."""
    q = bl.q
    beta = linalg.lstsq(bl.xtx, bl.xty)[0]
    ok = bl.counts > q
    if ok.sum() < q + 2:
        return _fast._tri_entries(np.eye(q))
    s, w = bl.s[ok], bl.z[ok] - bl.g[ok] @ beta
    try:
        coefs = np.linalg.solve(s, w[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return _fast._tri_entries(np.eye(q))
    rss = bl.yty - 2 * beta @ bl.xty + beta @ bl.xtx @ beta
    sigma2 = max(rss / bl.n_obs, 1e-12) * 0.5
    cov = np.cov(coefs.T).reshape(q, q)
    d = cov / sigma2 + 1e-3 * np.eye(q)
    th = _fast.d_to_theta(d)
    return th if np.all(np.isfinite(th)) else _fast._tri_entries(np.eye(q))


def _z_scale(zmat: np.ndarray) -> np.ndarray:
    """Root mean square of each random-effect column, or all ones when the columns are on similar scales.

    A random slope on weeks (0 to ~80) beside an intercept gives a relative covariance whose
    entries differ by orders of magnitude, which the optimiser handles badly; it works on
    ``Z / scale`` instead (the profiled deviance is invariant to that reparametrisation).
    """
    rms = np.sqrt(np.mean(zmat**2, axis=0)) if zmat.size else np.ones(zmat.shape[1])
    rms = np.where(rms > 0, rms, 1.0)
    return rms if np.any((rms < 0.25) | (rms > 4.0)) else np.ones(zmat.shape[1])


def _fit_fast(bl: _fast.Blocks, reml: bool, progress: bool,
              pr: Prepared | None = None) -> tuple[np.ndarray, _fast.Evaluation, dict[str, Any]]:
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="fitting mixed model (deviance evaluations)", unit="eval", leave=False)
    scale = _z_scale(pr.zmat) if pr is not None else np.ones(bl.q)
    work = bl if np.all(scale == 1.0) else _fast.blocks(pr.y, pr.x, pr.zmat / scale, pr.codes)  # type: ignore[union-attr]
    try:
        out = _fast.fit(work, reml, _moment_start(work), callback=(bar.update if bar is not None else None))
    finally:
        if bar is not None:
            bar.close()
    theta, ev = out.theta, out.evaluation
    if work is not bl:
        theta = _fast._tri_entries(_fast._tri(theta, bl.q) / scale[:, None])  # Lambda = S^-1 Lambda*, still lower triangular
        ev = _fast.evaluate(theta, bl, reml)
    opt = {"optimizer": out.optimizer, "converged": out.converged, "projected_gradient": out.projected_gradient,
           "convergence": {**out.convergence, "scale": "theta of the random-effect columns divided by z_scale"},
           "attempts": out.attempts, "z_scale": scale.tolist()}
    return theta, ev, opt


def _site_design(pr: Prepared, site_col: str,
                 site_random: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Site number per patient (code order), site labels, site random-effect design and names."""
    frame = pr.frame
    col = frame[site_col]
    if col.isna().any():
        raise FootdropError(f"{site_col}: {int(col.isna().sum())} fitted rows have no site; give every visit its site "
                            "or drop those rows")
    per_patient = pd.Series(pd.factorize(col, sort=True)[0]).groupby(pr.codes).agg(["min", "max"])
    mixed_sites = int((per_patient["min"] != per_patient["max"]).sum())
    if mixed_sites:
        raise FootdropError(f"{mixed_sites} patients ({pr.id_col}) have visits at more than one site ({site_col}); the "
                            "three-level model needs each patient nested in one site")
    site_codes_all, sites = pd.factorize(col, sort=True)
    site_codes = np.asarray(site_codes_all)[np.r_[0, np.flatnonzero(np.diff(pr.codes)) + 1]]
    if len(sites) < 2:
        raise FootdropError(f"{site_col}: only one site in the fitted rows; a site variance needs two or more sites")
    tb = pr.design.basis.evaluate(frame["__t"].to_numpy())
    qs = 1 if site_random == "intercept" else 2
    wmat = np.column_stack([np.ones(len(frame)), tb[:, : qs - 1]])
    names = ("Intercept", *pr.design.basis.names[: qs - 1])
    return site_codes, np.asarray(sites), wmat, names


def _moment_start3(b3: _fast3.Blocks3, theta_patient: np.ndarray, sigma2: float) -> np.ndarray:
    """Site block start: spread of the site means of per-patient least-squares effects (relative to sigma^2)."""
    qs = b3.qs
    fallback = np.r_[theta_patient, _fast._tri_entries(np.eye(qs)) if qs > 1 else np.ones(1)]
    beta = linalg.lstsq(b3.xtx, b3.xty)[0]
    s, w = b3.ww, b3.zw - b3.gw @ beta  # per patient W'W and W'(y - Xb): a site's mean residual effect
    tot_s = np.add.reduceat(s, b3.site_starts, axis=0)
    tot_w = np.add.reduceat(w, b3.site_starts, axis=0)
    try:
        coefs = np.linalg.solve(tot_s, tot_w[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return fallback
    if coefs.shape[0] < 2:
        return fallback
    cov = np.atleast_2d(np.cov(coefs.T)).reshape(qs, qs)
    th = _fast.d_to_theta(cov / max(sigma2, 1e-12) + 1e-3 * np.eye(qs))
    out = np.r_[theta_patient, th]
    return out if np.all(np.isfinite(out)) else fallback


def _fit_fast3(bl: _fast.Blocks, pr: Prepared, reml: bool, progress: bool, site_col: str, site_random: str,
               site_codes: np.ndarray, sites: np.ndarray, wmat: np.ndarray,
               w_names: tuple[str, ...]) -> tuple[np.ndarray, _fast3.Evaluation3, dict[str, Any], SiteLevel]:
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="fitting three-level mixed model (deviance evaluations)", unit="eval", leave=False)
    scale = _z_scale(pr.zmat)
    scale_w = _z_scale(wmat)
    b3 = _fast3.blocks3(pr.y, pr.x, pr.zmat, wmat, pr.codes, site_codes)
    work = b3 if np.all(scale == 1.0) and np.all(scale_w == 1.0) else _fast3.blocks3(
        pr.y, pr.x, pr.zmat / scale, wmat / scale_w, pr.codes, site_codes)
    two = bl if np.all(scale == 1.0) else _fast.blocks(pr.y, pr.x, pr.zmat / scale, pr.codes)
    th_p = _moment_start(two)
    beta = linalg.lstsq(bl.xtx, bl.xty)[0]
    rss = bl.yty - 2 * beta @ bl.xty + beta @ bl.xtx @ beta
    theta0 = _moment_start3(work, th_p, max(rss / bl.n_obs, 1e-12) * 0.5)
    try:
        out = _fast3.fit3(work, reml, theta0, callback=(bar.update if bar is not None else None))
    finally:
        if bar is not None:
            bar.close()
    th_pat, th_site = _fast3.split_theta(out.theta, b3.q, b3.qs)
    if work is not b3:
        th_pat = _fast._tri_entries(_fast._tri(th_pat, b3.q) / scale[:, None])
        th_site = _fast._tri_entries(_fast._tri(th_site, b3.qs) / scale_w[:, None])
    ev = _fast3.evaluate3(np.r_[th_pat, th_site], b3, reml)
    opt = {"optimizer": out.optimizer, "converged": out.converged, "projected_gradient": out.projected_gradient,
           "convergence": {**out.convergence, "scale": "theta (patient block, then site block) of the random-effect "
                                                       "columns divided by z_scale and site_scale"},
           "attempts": out.attempts, "z_scale": scale.tolist(), "site_scale": scale_w.tolist()}
    d_s = _fast.theta_to_d(th_site, b3.qs)
    site_level = SiteLevel(site_col=site_col, random=site_random, names=w_names, sites=sites, wmat=wmat, theta=th_site,
                           cov_re=pd.DataFrame(ev.sigma2 * d_s, index=list(w_names), columns=list(w_names)), blocks=b3)
    return th_pat, ev, opt, site_level


def _fit_statsmodels(pr: Prepared, bl: _fast.Blocks, reml: bool,
                     progress: bool) -> tuple[np.ndarray, _fast.Evaluation, dict[str, Any], list[str]]:
    from statsmodels.regression.mixed_linear_model import MixedLM

    methods = ["lbfgs", "bfgs", "cg", "powell", "nm"]
    model = MixedLM(pr.y, pr.x, groups=pr.codes, exog_re=pr.zmat)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=1, desc="fitting mixed model (statsmodels MixedLM)", leave=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = model.fit(reml=reml, method=methods)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise FootdropError(f"statsmodels MixedLM could not fit the model ({exc}); try engine='fast', "
                                "random='intercept', or fewer terms") from exc
        finally:
            if bar is not None:
                bar.update(1)
                bar.close()
    texts = []
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in texts:
            texts.append(text)
    for text in texts:
        warnings.warn(f"statsmodels MixedLM: {text}", TrajectoryFitWarning, stacklevel=3)
    scale = float(res.scale)
    d = np.asarray(res.cov_re, dtype=float).reshape(bl.q, bl.q) / scale
    theta = _fast.d_to_theta(d)
    ev = _fast.evaluate(theta, bl, reml)

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            e = _fast.evaluate(th, bl, reml)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return 1e300, np.zeros_like(th)
        return e.deviance, e.gradient  # type: ignore[return-value]

    with np.errstate(all="ignore"):
        conv = _fast.convergence(theta, bl.q, fun)
    # the cross-check engine keeps statsmodels' own verdict (its optimisers stop at a gradient of
    # about 1e-2); the documented criterion's numbers are recorded beside it
    conv["criterion_met"] = conv.pop("converged")
    conv["converged"] = bool(res.converged)
    conv["verdict"] = "statsmodels' own (engine='statsmodels' is the cross-check); criterion_met: the documented criterion"
    opt = {"optimizer": "statsmodels MixedLM (" + "/".join(methods) + " in turn)",
           "converged": bool(res.converged), "projected_gradient": conv["projected_gradient"],
           "convergence": conv, "attempts": [], "statsmodels_llf": float(res.llf),
           "statsmodels_beta": np.asarray(res.fe_params, dtype=float).tolist()}
    return theta, ev, opt, texts


def _build(pr: Prepared, bl: _fast.Blocks, theta: np.ndarray, ev: _fast.Evaluation | _fast3.Evaluation3,
           opt: dict[str, Any], *, reml: bool, engine: str, random: str, alpha: float, seconds: float, texts: list[str],
           site: SiteLevel | None = None) -> TrajectoryResult:
    terms = list(pr.design.terms)
    sigma2 = ev.sigma2
    d = _fast.theta_to_d(theta, bl.q)
    cov_re = sigma2 * d
    a_inv = linalg.cho_solve((ev.chol_a, False), np.eye(bl.p))
    cov = sigma2 * a_inv
    beta = ev.beta
    se = np.sqrt(np.diag(cov))
    q = zq(alpha)
    summary = pd.DataFrame({"term": terms, "estimate": beta, "se": se, "lower": beta - q * se, "upper": beta + q * se,
                            "z": beta / se})
    summary["p"] = p_value(summary["z"].to_numpy())
    summary["reference"] = reference_column(terms, pr.design.references)
    sds = np.sqrt(np.diag(cov_re))
    rel_sd = sds * np.sqrt(np.mean(pr.zmat**2, axis=0)) / math.sqrt(sigma2)  # per unit of the column's typical size
    boundary_parts = [f"SD of the random {name} is {sds[j]:.3g} (at 0)" for j, name in enumerate(pr.z_names) if rel_sd[j] < _BOUNDARY_SD]
    for i in range(bl.q):
        for j in range(i):
            if sds[i] > 0 and sds[j] > 0:
                r = cov_re[i, j] / (sds[i] * sds[j])
                if abs(r) > _BOUNDARY_CORR:
                    boundary_parts.append(f"correlation of {pr.z_names[j]} and {pr.z_names[i]} is {r:.4f} (at +-1)")
    if site is not None:
        cs = site.cov_re.to_numpy()
        sds_s = np.sqrt(np.diag(cs))
        rel_s = sds_s * np.sqrt(np.mean(site.wmat**2, axis=0)) / math.sqrt(sigma2)
        boundary_parts += [f"SD of the site {name} is {sds_s[j]:.3g} (at 0)" for j, name in enumerate(site.names)
                           if rel_s[j] < _BOUNDARY_SD]
        if cs.shape[0] == 2 and sds_s.min() > 0 and abs(cs[0, 1] / (sds_s[0] * sds_s[1])) > _BOUNDARY_CORR:
            boundary_parts.append(f"correlation of the site {site.names[0]} and {site.names[1]} is "
                                  f"{cs[0, 1] / (sds_s[0] * sds_s[1]):.4f} (at +-1)")
    boundary = bool(boundary_parts)
    log_lik = -0.5 * ev.deviance
    n_par = bl.p + _fast.n_theta(bl.q) + 1 + (0 if site is None else _fast.n_theta(site.blocks.qs))
    info: dict[str, Any] = {
        "method": "REML" if reml else "ML",
        "engine": ("profiled (RE)ML over patient blocks nested in site blocks (nested Woodbury), analytic gradient "
                   "(footdrop_outcomes)" if site is not None else
                   {"fast": "profiled (RE)ML over per-patient blocks, analytic gradient (footdrop_outcomes)",
                    "statsmodels": "statsmodels MixedLM"}[engine]),
        "optimizer": opt["optimizer"], "converged": bool(opt["converged"]), "boundary": boundary,
        "boundary_detail": boundary_parts, "projected_gradient": opt["projected_gradient"],
        "convergence": opt["convergence"], "attempts": opt["attempts"],
        "formula": pr.design.formula, "formula_expanded": pr.design.rhs, "time": pr.design.basis.kind,
        "time_basis": pr.design.basis.describe(),
        "random": random, "random_effects": list(pr.z_names), "outcome": pr.outcome, "n": bl.n_obs, "groups": bl.n_groups,
        "visits_per_patient": float(bl.n_obs / bl.n_groups), "n_missing_outcome": pr.n_missing_outcome,
        "dropped_levels": pr.dropped_levels, **pr.missing_info, "reference_levels": pr.design.references, "log_likelihood": log_lik, "n_params": n_par,
        "aic": -2 * log_lik + 2 * n_par, "bic": -2 * log_lik + math.log(bl.n_obs) * n_par,
        "fit_seconds": seconds, "warnings": list(texts), "versions": versions(),
    }
    for key in ("statsmodels_llf", "statsmodels_beta", "site_scale"):
        if key in opt:
            info[key] = opt[key]
    if site is not None:
        info.update({"site_col": site.site_col, "site_random": site.random, "site_random_effects": list(site.names),
                     "sites": int(site.blocks.n_sites)})
    if not info["converged"]:
        msg = (f"the {info['method']} fit of {pr.outcome} did not converge (largest projected gradient "
               f"{opt['projected_gradient']:.3g}, relative change of a further Newton step "
               f"{opt['convergence']['relative_change']:.3g}; criterion: {opt['convergence']['criterion']}; optimisers tried: {[a['optimizer'] for a in opt['attempts']] or opt['optimizer']}); "
               "estimates may be off: simplify the random effects (random='intercept') or rescale covariates")
        info["warnings"].append(msg)
        warnings.warn(msg, TrajectoryFitWarning, stacklevel=3)
    if boundary:
        msg = (f"boundary fit of {pr.outcome}: " + "; ".join(boundary_parts)
               + ". The random-effects structure is richer than the data support: consider a simpler one")
        info["warnings"].append(msg)
        warnings.warn(msg, TrajectoryFitWarning, stacklevel=3)
    result = TrajectoryResult(
        summary=summary, info=info, params=pd.Series(beta, index=terms, name="estimate"),
        cov=pd.DataFrame(cov, index=terms, columns=terms),
        cov_re=pd.DataFrame(cov_re, index=list(pr.z_names), columns=list(pr.z_names)),
        sigma=math.sqrt(sigma2), theta=np.asarray(theta, dtype=float), log_likelihood=log_lik, alpha=alpha,
        design=pr.design, prepared=pr.without_x(), blocks=bl, site=site,
    )
    info["icc"] = result.icc(0.0)
    if site is not None:
        info["icc_site"] = result.icc_site(0.0)
    return result


# ------------------------------------------------------------------------------------------------
# variance components


def _component_names(z_names: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """(component, var1, var2) in lme4's VarCorr order: SDs, then correlations."""
    label = {"Intercept": "intercept", **({z_names[1]: "slope"} if len(z_names) > 1 else {})}
    out = [(f"sd_{label.get(n, n)}", n, None) for n in z_names]
    for j in range(len(z_names)):
        for i in range(j + 1, len(z_names)):
            out.append((f"corr_{label.get(z_names[j], z_names[j])}_{label.get(z_names[i], z_names[i])}", z_names[j], z_names[i]))
    return out


def _psi(cov_re: np.ndarray, sigma2: float) -> np.ndarray:
    q = cov_re.shape[0]
    sd = np.sqrt(np.diag(cov_re))
    out = list(np.log(sd))
    for j in range(q):
        for i in range(j + 1, q):
            out.append(math.atanh(cov_re[i, j] / (sd[i] * sd[j])))
    out.append(0.5 * math.log(sigma2))
    return np.array(out)


def _from_psi(psi: np.ndarray, q: int) -> tuple[np.ndarray, float]:
    sd = np.exp(psi[:q])
    corr = np.eye(q)
    k = q
    for j in range(q):
        for i in range(j + 1, q):
            corr[i, j] = corr[j, i] = math.tanh(psi[k])
            k += 1
    sigma2 = math.exp(2 * psi[-1])
    return corr * np.outer(sd, sd), sigma2


def _variance_table(res: TrajectoryResult) -> pd.DataFrame:
    bl = res.blocks
    q = bl.q
    site = res.site
    sigma2 = res.sigma**2
    id_col = res.prepared.id_col
    # (component, group, var1, var2, covariance matrix, names): patient terms, then site terms
    levels = [("", id_col, res.cov_re.to_numpy(), list(res.prepared.z_names))]
    if site is not None:
        levels.append(("site_", site.site_col, site.cov_re.to_numpy(), list(site.names)))
    comps: list[tuple[str, str, str, str | None]] = []
    est, vcov = [], []
    for prefix, group, cov, names in levels:
        sd = np.sqrt(np.diag(cov))
        for comp, v1, v2 in _component_names(names):
            comps.append((comp.replace("sd_", f"sd_{prefix}", 1).replace("corr_", f"corr_{prefix}", 1), group, v1, v2))
            i = names.index(v1)
            if v2 is None:
                est.append(sd[i])
                vcov.append(cov[i, i])
            else:
                j = names.index(v2)
                est.append(cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan)
                vcov.append(cov[i, j])
    est.append(res.sigma)
    vcov.append(sigma2)
    lower = np.full(len(est), np.nan)
    upper = np.full(len(est), np.nan)
    note = [""] * len(est)
    if res.info["boundary"]:
        note = ["boundary fit: no Wald CI"] * len(est)
    else:
        kp = _fast.n_theta(q)
        psi = np.r_[_psi(res.cov_re.to_numpy(), sigma2)[:-1]]
        if site is not None:
            psi = np.r_[psi, _psi(site.cov_re.to_numpy(), sigma2)[:-1]]
        psi = np.r_[psi, 0.5 * math.log(sigma2)]

        def dev(ps: np.ndarray) -> float:
            c, s2 = _from_psi(np.r_[ps[:kp], ps[-1]], q)
            th = _fast.d_to_theta(c / s2)
            if site is None:
                return _fast.full_deviance(th, s2, bl, res.reml)
            cs, _ = _from_psi(np.r_[ps[kp:-1], ps[-1]], site.blocks.qs)
            return _fast3.full_deviance3(np.r_[th, _fast.d_to_theta(cs / s2)], s2, site.blocks, res.reml)

        try:
            hess = _hessian(dev, psi) / 2  # observed information of the log-likelihood
            cov_psi = np.linalg.inv(hess)
            se = np.sqrt(np.diag(cov_psi))
            if not np.all(np.isfinite(se)):
                raise np.linalg.LinAlgError("information not positive definite")
            zqv = zq(res.alpha)
            lo, hi = psi - zqv * se, psi + zqv * se
            for k, (_, _, _, v2) in enumerate(comps):  # psi is in the order of comps
                if v2 is None:
                    lower[k], upper[k] = math.exp(lo[k]), math.exp(hi[k])
                else:
                    lower[k], upper[k] = math.tanh(lo[k]), math.tanh(hi[k])
            lower[-1], upper[-1] = math.exp(lo[-1]), math.exp(hi[-1])
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            note = ["observed information not positive definite: no Wald CI"] * len(est)
    rows = pd.DataFrame({
        "component": [c for c, _, _, _ in comps] + ["sd_residual"],
        "group": [g for _, g, _, _ in comps] + ["Residual"],
        "var1": [v1 for _, _, v1, _ in comps] + [None],
        "var2": [v2 for _, _, _, v2 in comps] + [None],
        "vcov": vcov, "sdcor": est, "estimate": est, "lower": lower, "upper": upper, "note": note,
    })
    extra = [("icc", id_col, res.icc(0.0), "between-patient share of variance at week 0 (see icc(weeks)); no CI")]
    if site is not None:
        extra.append(("icc_site", site.site_col, res.icc_site(0.0),
                      "between-site share of variance at week 0 (see icc_site(weeks)); no CI"))
    icc = pd.DataFrame({"component": [e[0] for e in extra], "group": [e[1] for e in extra],
                        "var1": ["Intercept"] * len(extra), "var2": [None] * len(extra), "vcov": [np.nan] * len(extra),
                        "sdcor": [np.nan] * len(extra), "estimate": [e[2] for e in extra],
                        "lower": [np.nan] * len(extra), "upper": [np.nan] * len(extra), "note": [e[3] for e in extra]})
    return pd.concat([rows, icc], ignore_index=True)


def _hessian(f: Any, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    k = x.size
    hess = np.empty((k, k))
    f0 = f(x)
    e = np.eye(k) * h
    fp = [f(x + e[i]) for i in range(k)]
    fm = [f(x - e[i]) for i in range(k)]
    for i in range(k):
        hess[i, i] = (fp[i] - 2 * f0 + fm[i]) / h**2
        for j in range(i):
            v = (f(x + e[i] + e[j]) - f(x + e[i] - e[j]) - f(x - e[i] + e[j]) + f(x - e[i] - e[j])) / (4 * h**2)
            hess[i, j] = hess[j, i] = v
    return hess


# ------------------------------------------------------------------------------------------------
# model comparison


def compare_models(*fits: TrajectoryResult) -> pd.DataFrame:
    """Likelihood-ratio tests of nested mixed models, with AIC and BIC (lme4's ``anova``).

    Parameters
    ----------
    *fits : TrajectoryResult
        Two or more fits of the same outcome on the same rows, each nested in the next when
        sorted by number of parameters. Fixed effects may differ only between ML fits (REML
        likelihoods of different fixed effects are not comparable: refit with
        ``method="ml"``); REML fits may differ in their random effects only.

    Returns
    -------
    pandas.DataFrame
        One row per model (fewest parameters first): ``model`` (position in the call),
        ``formula``, ``random``, ``method``, ``n_params``, ``log_likelihood``, ``aic``, ``bic``,
        ``chisq``, ``df``, ``p`` (LR test against the previous row). For a variance component
        tested on its boundary (e.g. adding a random slope) the chi-square p-value is
        conservative (the reference is a chi-bar-square mixture; halving it is the usual fix
        for one added variance).

    Examples
    --------
    >>> from footdrop_outcomes import simulate_cohort
    >>> c = simulate_cohort(300, seed=2)
    >>> small = fit_trajectory(c, "gait_speed", "time + severity", method="ml")
    >>> big = fit_trajectory(c, "gait_speed", "time * severity", method="ml")
    >>> compare_models(small, big)["df"].tolist()
    [nan, 2.0]
    """
    if len(fits) < 2 or not all(isinstance(f, TrajectoryResult) for f in fits):
        raise ConfigError("compare_models needs two or more TrajectoryResult fits")
    ref = fits[0]
    for k, f in enumerate(fits[1:], start=2):
        same = (f.prepared.outcome == ref.prepared.outcome and f.blocks.n_obs == ref.blocks.n_obs
                and np.allclose(f.prepared.y, ref.prepared.y))
        if not same:
            raise FootdropError(f"model {k} was not fitted to the same outcome rows as model 1 ({f.prepared.outcome}, "
                                f"n={f.blocks.n_obs} vs {ref.prepared.outcome}, n={ref.blocks.n_obs}); LR tests need the same data")
    methods = {f.info["method"] for f in fits}
    if len(methods) > 1:
        raise ConfigError("compare_models: mix of REML and ML fits; refit all with method='ml'")
    order = sorted(range(len(fits)), key=lambda i: fits[i].n_params)
    rows = []
    for pos, i in enumerate(order):
        f = fits[i]
        row: dict[str, Any] = {"model": i + 1, "formula": f.info["formula_expanded"], "random": ",".join(f.prepared.z_names),
                               "method": f.info["method"], "n_params": f.n_params, "log_likelihood": f.log_likelihood,
                               "aic": f.aic, "bic": f.bic, "chisq": np.nan, "df": np.nan, "p": np.nan}
        if pos > 0:
            g = fits[order[pos - 1]]
            _check_nested(g, f, order[pos - 1] + 1, i + 1)
            dfree = f.n_params - g.n_params
            stat = max(2 * (f.log_likelihood - g.log_likelihood), 0.0)
            row.update({"chisq": stat, "df": float(dfree), "p": float(chi2.sf(stat, dfree)) if dfree > 0 else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def _check_nested(small: TrajectoryResult, big: TrajectoryResult, ks: int, kb: int) -> None:
    extra_fixed = [t for t in small.design.terms if t not in big.design.terms]
    extra_random = [t for t in small.prepared.z_names if t not in big.prepared.z_names]
    knots_differ = (small.design.basis.kind == big.design.basis.kind == "spline"
                    and small.design.basis.knots_lw != big.design.basis.knots_lw)
    if knots_differ:
        raise FootdropError(f"models {ks} and {kb} use splines with different knots, so they are not nested; "
                            "give both the same knots= (weeks)")
    if small.site is not None:
        extra_random += [f"{small.site.site_col}:{n}" for n in small.site.names
                         if big.site is None or big.site.site_col != small.site.site_col or n not in big.site.names]
    if extra_fixed or extra_random:
        raise FootdropError(f"model {ks} is not nested in model {kb}: terms {extra_fixed + extra_random} of model {ks} are "
                            f"not in model {kb}; LR tests need nested models")
    if small.info["method"] == "REML" and list(small.design.terms) != list(big.design.terms):
        raise ConfigError(f"models {ks} and {kb} differ in fixed effects, so their REML likelihoods are not comparable; "
                          "refit both with method='ml'")
