"""tv_cure._Model: cumulative hazards summed over blocks of patients of similar follow-up, each over its
own weeks, equal the hazard from its definition and the one-block sums (to rounding)."""

from __future__ import annotations

import numpy as np
import pytest

from footdrop_outcomes.survival import tv_cure


def _direct(x, t, lin, g, k):
    """H(T) = exp(lin) sum_w exp(g x_w) (min(w + 1, T)^k - min(w, T)^k); the last week holds every later time."""
    n, weeks = x.shape
    h = np.zeros(n)
    for i in range(n):
        for w in range(weeks):
            lo, hi = min(w, t[i]), (min(w + 1, t[i]) if w < weeks - 1 else t[i])
            if hi > lo:
                h[i] += np.exp(lin[i]) * np.exp(g * x[i, w]) * (hi ** k - lo ** k)
    return h


@pytest.mark.parametrize("seed", [1, 2])
def test_block_hazards_equal_the_definition_and_one_block(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n, weeks = 41, 30
    x = rng.uniform(0, 3, (n, weeks))
    reach = rng.uniform(0.05, 1, n) ** 2  # most patients followed briefly, a few long
    lo = np.floor(rng.uniform(0, weeks - 4, n) * reach * 3) / 3
    up = np.minimum(lo + rng.uniform(0.2, 3, n), weeks - 1.01)
    up[rng.uniform(size=n) < 0.3] = np.inf  # right-censored
    lo[:3] = 0.0  # left-censored (and one right-censored at 0 is possible)
    z = np.c_[np.ones(n), rng.normal(size=n)]
    v = np.c_[np.ones(n), rng.normal(size=n)]
    model = tv_cure._Model(z, v, x, lo, up)
    assert len(model.blocks) == tv_cure._Model.BLOCKS
    g, k, lin = 0.15, 1.3, v @ np.array([-2.5, 0.2])
    ex = [np.exp(g * xb) for _, _, xb, _ in model.blocks]
    for which, t in ((0, lo), (1, np.where(np.isfinite(up), up, lo))):
        np.testing.assert_allclose(model._cumhaz(k, ex, lin, which)[0], _direct(x, t, lin, g, k), rtol=1e-12, atol=1e-14)
    theta = np.r_[0.3, -0.2, -2.5, 0.2, g, np.log(k)]
    f8, g8 = model.negloglik(theta)
    monkeypatch.setattr(tv_cure._Model, "BLOCKS", 1)
    f1, g1 = tv_cure._Model(z, v, x, lo, up).negloglik(theta)
    assert f8 == pytest.approx(f1, rel=1e-14)
    np.testing.assert_allclose(g8, g1, rtol=1e-12, atol=1e-12)
