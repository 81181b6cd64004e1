"""Two edges of the mixed-model code that survived the mutation run at ba5ded3 (issue 21).

* ``mixed.py:936``: a correlation of random effects is undefined when one of the two SDs is 0;
  it is reported as NaN, quietly (the mutant computed ``0 / 0``: the same NaN with a numpy
  "invalid value" warning that reaches the analyst). The optimiser never returns an SD of exactly
  0 for a correlated pair (the Cholesky entry below the diagonal would also have to be exactly
  0), so the covariance matrix of a real fit is replaced by one with a zero row here.
* ``_fast.py:445``: the optimiser attempts recorded in ``info["attempts"]`` carry the iteration
  and evaluation counts that scipy reported (the mutant recorded 0 iterations). Outside
  reference: scipy's own result objects, recorded as the fit runs.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes.trajectories import _fast, fit_trajectory

WEEKS = np.array([0, 2, 6, 12, 26, 52, 78], dtype=float)


def _data(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), WEEKS.size)
    weeks = np.tile(WEEKS, n)
    y = 1 + 0.01 * weeks + rng.normal(0, 0.3, n)[ids] + rng.normal(0, 0.01, n)[ids] * weeks + rng.normal(0, 0.1, ids.size)
    return pd.DataFrame({"id": ids, "t": weeks, "y": y})


def _fit(d: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes are not what is checked here
        return fit_trajectory(d, "y", "time", time="linear", id_col="id", time_col="t")


@pytest.mark.parametrize("zero", [0, 1], ids=["intercept-sd-0", "slope-sd-0"])
def test_a_correlation_with_a_zero_sd_is_nan_without_a_numeric_warning(zero):
    fit = _fit(_data(1))
    cov = fit.cov_re.copy()
    term = cov.columns[zero]
    cov.loc[term, :] = 0.0
    cov.loc[:, term] = 0.0  # this term's SD exactly 0: its correlation with the other is undefined
    zeroed = dataclasses.replace(fit, cov_re=cov, info={**fit.info, "boundary": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 0/0 would warn
        vc = zeroed.variance_components.set_index("component")["estimate"]
    corr = [c for c in vc.index if c.startswith("corr_")]
    sds = [c for c in vc.index if c.startswith("sd_") and c != "sd_residual"]
    assert len(corr) == 1 and np.isnan(vc[corr[0]])
    expected = np.sqrt(np.diag(fit.cov_re.to_numpy()))
    expected[zero] = 0.0
    assert vc[sds].tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    # and the correlation of the fit itself is cov / (sd sd), by hand
    own = fit.variance_components.set_index("component")["estimate"]
    c = fit.cov_re.to_numpy()
    assert own[corr[0]] == pytest.approx(c[0, 1] / np.sqrt(c[0, 0] * c[1, 1]), rel=1e-12)


@pytest.mark.parametrize("seed", [2, 3])
def test_attempts_record_the_optimisers_iterations(monkeypatch, seed):
    seen = []
    real = _fast.optimize.minimize

    def spy(*args, **kwargs):
        res = real(*args, **kwargs)
        seen.append((kwargs.get("method"), int(res.nit), int(res.nfev)))
        return res

    monkeypatch.setattr(_fast.optimize, "minimize", spy)
    fit = _fit(_data(seed))
    attempts = fit.info["attempts"]
    assert len(attempts) == len(seen) >= 1
    assert [(a["optimizer"], a["iterations"], a["evaluations"]) for a in attempts] == seen
    assert all(it >= 1 for _, it, _ in seen)  # the start is not the optimum: the optimiser iterated
