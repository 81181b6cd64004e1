"""What the mixed model and the GEE share: population-mean curves, their CIs, time to an MCID, plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from footdrop_outcomes._checks import zq
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.trajectories._design import (
    Design,
    Prepared,
    profile_frame,
    weeks_grid,
)


class MeanCurves:
    """Mixin: needs ``params``, ``cov``, ``alpha``, ``design``, ``prepared``, ``info``."""

    params: pd.Series
    cov: pd.DataFrame
    alpha: float
    design: Design
    prepared: Prepared
    info: dict[str, Any]

    # -- profiles -------------------------------------------------------------------------------

    def _default_profile(self, at: Mapping[str, Any] | None) -> dict[str, Any]:
        """Reference level of each categorical, the fitted data's mean of each numeric variable."""
        frame = self.prepared.frame
        out: dict[str, Any] = {}
        for v in self.design.variables:
            if v in self.design.levels:
                out[v] = self.design.levels[v][0]
            else:
                out[v] = float(pd.to_numeric(frame[v]).mean())
        for k, val in dict(at or {}).items():
            if k not in self.design.variables:
                raise FootdropError(f"at: {k!r} is not a variable of the formula {self.design.formula!r} "
                                    f"(variables: {list(self.design.variables)})")
            out[k] = val
        return out

    def _by_levels(self, by: str | Sequence[str] | None) -> list[str]:
        cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
        for c in cols:
            if c not in self.design.levels:
                raise FootdropError(f"by: {c!r} is not a categorical variable of the formula {self.design.formula!r} "
                                    f"(categorical: {list(self.design.levels)})")
        return cols

    def default_by(self) -> str | None:
        """The first categorical variable that interacts with time, else the first categorical."""
        basis = self.design.basis.names
        for term in self.design.terms:
            parts = term.split(":")
            if any(p in basis for p in parts):
                for p in parts:
                    name = p.split("[", 1)[0]
                    if name in self.design.levels:
                        return name
        return next(iter(self.design.levels), None)

    # -- predictions ----------------------------------------------------------------------------

    def predict(self, profile: Any, weeks: Any = None) -> pd.DataFrame:
        """Population-mean outcome (random effects at 0) for covariate profiles, with pointwise CIs.

        Parameters
        ----------
        profile : dict or pandas.DataFrame
            One row per profile with the formula's variables.
        weeks : float or array, optional
            Weeks since onset (default: a grid over the observed range).

        Returns
        -------
        pandas.DataFrame
            ``profile`` (row number), the profile columns, ``weeks`` (and ``months`` for the
            months basis), ``mean``, ``se``, ``lower``, ``upper`` (Wald CI of the mean at level
            ``1 - alpha``, from the fixed effects' covariance).
        """
        prof = profile_frame(profile)
        w = weeks_grid(weeks, float(self.prepared.frame["__t"].max()))
        rep = prof.loc[np.repeat(np.arange(len(prof)), w.size)].reset_index(drop=True)
        ww = np.tile(w, len(prof))
        x = self.design.matrix(rep, ww)
        b = self.params.to_numpy()
        cov = self.cov.to_numpy()
        mean = x @ b
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, cov, x), 0.0))
        q = zq(self.alpha)
        out = rep.copy()
        out.insert(0, "profile", np.repeat(np.arange(len(prof)), w.size))
        out["weeks"] = ww
        if self.design.basis.unit != "weeks":
            out[self.design.basis.unit] = self.design.basis.in_unit(ww)
        out["mean"], out["se"] = mean, se
        out["lower"], out["upper"] = mean - q * se, mean + q * se
        return out

    def trajectories(self, by: str | Sequence[str] | None = "default", weeks: Any = None,
                     at: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Population-mean trajectories with CIs for every level (combination) of ``by``.

        Parameters
        ----------
        by : str or list of str, optional
            Categorical variables of the formula, e.g. ``["cause", "severity"]``; default the
            first one that interacts with time. None: one curve.
        weeks : array, optional
            Weeks since onset (default: a grid over the observed range).
        at : dict, optional
            Values of the other variables; default the reference level of categoricals and the
            mean of numeric variables in the fitted data.

        Returns
        -------
        pandas.DataFrame
            As :meth:`predict`, one block of rows per level combination.
        """
        by_cols = self._by_levels(self.default_by() if by == "default" else by)
        base = self._default_profile(at)
        if by_cols:
            grids = np.meshgrid(*[np.arange(len(self.design.levels[c])) for c in by_cols], indexing="ij")
            combos = np.column_stack([g.ravel() for g in grids])
            rows = []
            for combo in combos:
                row = dict(base)
                for c, j in zip(by_cols, combo):
                    row[c] = self.design.levels[c][j]
                rows.append(row)
            prof = pd.DataFrame(rows)
        else:
            prof = pd.DataFrame([base])
        return self.predict(prof, weeks)

    def time_to_mcid(self, profile: Any, mcid: float = 0.10, *, from_week: float = 0.0, horizon: float | None = None,
                     n_draws: int = 2000, seed: int = 0) -> pd.DataFrame:
        """Weeks until the population-mean outcome of a profile has improved by ``mcid``.

        The estimate is the first time ``t > from_week`` with ``mean(t) - mean(from_week) >=
        mcid`` (on a fine grid in ``log(1 + weeks)``, linearly interpolated: exact for the linear
        and months bases, and for the log basis up to the grid), whatever the time basis of the
        fit. Its CI is the percentile interval over ``n_draws`` draws of the
        fixed effects from their estimated normal distribution (a parametric bootstrap of the
        mean curve); draws that never reach the MCID by ``horizon`` count as ``inf``.

        Parameters
        ----------
        profile : dict or pandas.DataFrame
            Covariate profile(s).
        mcid : float
            Minimal clinically important difference in the outcome's units (0.10 m/s for gait
            speed); an improvement is an increase.
        from_week : float
            Week the change is measured from (0 = onset).
        horizon : float, optional
            Last week searched (default: the last observed visit time).
        n_draws, seed : int
            Draws of the fixed effects for the CI, and their seed.

        Returns
        -------
        pandas.DataFrame
            Profile columns, ``mcid``, ``from_week``, ``weeks`` (``inf`` if not reached by the
            horizon), ``lower``, ``upper``, ``p_reached`` (share of draws reaching the MCID by
            the horizon), ``horizon``; for the months basis also ``months``, ``months_lower``,
            ``months_upper``. Times are weeks since onset whatever the basis, so fits on
            different bases can be compared.
        """
        if not isinstance(mcid, (int, float)) or isinstance(mcid, bool) or not np.isfinite(mcid) or mcid <= 0:
            raise ConfigError(f"mcid must be a positive number (an improvement in the outcome's units), got {mcid!r}")
        if not isinstance(n_draws, int) or n_draws < 100:
            raise ConfigError(f"n_draws must be an integer >= 100, got {n_draws!r}")
        prof = profile_frame(profile)
        hz = float(self.prepared.frame["__t"].max()) if horizon is None else float(horizon)
        if not np.isfinite(from_week) or from_week < 0 or not hz > from_week:
            raise ConfigError(f"need 0 <= from_week < horizon, got from_week={from_week!r}, horizon={hz!r}")
        grid = np.expm1(np.linspace(np.log1p(from_week), np.log1p(hz), 2001))
        b = self.params.to_numpy()
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(b, self.cov.to_numpy(), size=n_draws, method="cholesky")
        q = self.alpha / 2
        rows = []
        for i in range(len(prof)):
            rep = prof.iloc[[i] * grid.size].reset_index(drop=True)
            x = self.design.matrix(rep, grid)
            gain = (x - x[0]) @ np.column_stack([b, draws.T])  # (grid, 1 + draws)
            t_hit = _first_crossing(grid, gain, mcid)
            est, sims = t_hit[0], t_hit[1:]
            row = prof.iloc[i].to_dict()
            row.update({"mcid": mcid, "from_week": from_week, "weeks": est,
                        "lower": float(np.quantile(sims, q, method="lower")), "upper": float(np.quantile(sims, 1 - q, method="higher")),
                        "p_reached": float(np.mean(np.isfinite(sims))), "horizon": hz})
            if self.design.basis.unit != "weeks":
                u = self.design.basis.unit
                row.update({u: float(self.design.basis.in_unit(row["weeks"])), f"{u}_lower": float(self.design.basis.in_unit(row["lower"])),
                            f"{u}_upper": float(self.design.basis.in_unit(row["upper"]))})
            rows.append(row)
        return pd.DataFrame(rows)

    # -- plots ----------------------------------------------------------------------------------

    def _spaghetti(self, ax: Any, *, by: str | None, n_patients: int, seed: int, at: Mapping[str, Any] | None,
                   title: str) -> Any:
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 4.8))
        by = self.default_by() if by == "default" else by
        by_cols = self._by_levels(by)
        frame = self.prepared.frame
        id_col = self.prepared.id_col
        ids = pd.unique(frame[id_col])
        rng = np.random.default_rng(seed)
        pick = set(rng.choice(ids, size=min(n_patients, ids.size), replace=False).tolist())
        curves = self.trajectories(by=by_cols or None, at=at)
        levels = list(self.design.levels[by_cols[0]]) if by_cols else [None]
        colours = plt.get_cmap("tab10")
        sub = frame[frame[id_col].isin(pick)]
        for pid, rows in sub.groupby(id_col, sort=False):
            j = levels.index(rows[by_cols[0]].iloc[0]) if by_cols else 0
            ax.plot(self.design.basis.in_unit(rows["__t"].to_numpy()), rows["__y"], color=colours(j % 10), alpha=0.35, linewidth=0.8, marker=".", markersize=3)
        for j, lev in enumerate(levels):
            c = curves if lev is None else curves[curves[by_cols[0]].astype(object) == lev]
            x = self.design.basis.in_unit(c["weeks"].to_numpy())
            ax.fill_between(x, c["lower"], c["upper"], color=colours(j % 10), alpha=0.25, linewidth=0)
            ax.plot(x, c["mean"], color=colours(j % 10), linewidth=2.2, label="all" if lev is None else str(lev))
        level = round(100 * (1 - self.alpha))
        ax.set_xlabel(self.design.basis.axis_label)
        ax.set_ylabel(self.prepared.outcome)
        ax.set_title(title)
        ax.legend(title=f"mean ({level}% CI)" + (f" by {by_cols[0]}" if by_cols else ""), fontsize=7, title_fontsize=8,
                  loc="best", ncol=2 if len(levels) > 4 else 1)
        return ax


def _first_crossing(grid: np.ndarray, gain: np.ndarray, mcid: float) -> np.ndarray:
    """First grid time where each column of ``gain`` reaches ``mcid`` (linear interpolation), inf if never."""
    hit = gain >= mcid
    any_hit = hit.any(axis=0)
    j = np.argmax(hit, axis=0)
    out = np.full(gain.shape[1], np.inf)
    cols = np.flatnonzero(any_hit)
    jj = j[cols]
    prev = np.maximum(jj - 1, 0)
    g0, g1 = gain[prev, cols], gain[jj, cols]
    t0, t1 = grid[prev], grid[jj]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(g1 > g0, (mcid - g0) / (g1 - g0), 1.0)
    out[cols] = np.where(jj == 0, grid[0], t0 + np.clip(frac, 0, 1) * (t1 - t0))
    return out
