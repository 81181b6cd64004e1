"""misclass._HazardAt: the cumulative hazard at the visit times, computed over blocks of patients of
similar follow-up, equals the hazard from its definition and is bit for bit the one-block result."""

from __future__ import annotations

import numpy as np
import pytest

from footdrop_outcomes.survival import misclass


def _direct(x, times, b, v, g, k):
    """H(t) = exp(v b) sum_w exp(g x_w) (min(w + 1, t)^k - min(w, t)^k), patient by patient, with dH/dg and dH/dlog k."""
    n, weeks = x.shape
    h, hg, hk = (np.zeros(times.shape) for _ in range(3))
    scale = np.exp(v @ b)
    for i in range(n):
        for j, t in enumerate(times[i]):
            for w in range(weeks):
                lo, hi = min(w, t), min(w + 1, t) if w < weeks - 1 else t  # the last week holds every later time
                if hi <= lo:
                    continue
                e = np.exp(g * x[i, w])
                base = hi ** k - lo ** k
                dk = k * ((hi ** k * np.log(hi) if hi > 0 else 0.0) - (lo ** k * np.log(lo) if lo > 0 else 0.0))
                h[i, j] += scale[i] * e * base
                hg[i, j] += scale[i] * e * x[i, w] * base
                hk[i, j] += scale[i] * e * dk
    return h, hg, hk


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_blocks_equal_the_definition_and_one_block(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n, weeks, m = 37, 40, 5
    x = rng.uniform(0, 10, (n, weeks))
    reach = rng.uniform(0.05, 1.0, (n, 1)) ** 2  # most patients followed briefly, a few long
    times = np.sort(rng.uniform(0, weeks - 1.5, (n, m)) * reach, axis=1)
    times[0, :] = 0.0  # a patient with nothing after onset
    times[1, -1] = weeks - 1.0  # a time on a whole week
    v = rng.normal(size=(n, 2))
    b = rng.normal(size=2) * 0.3
    for g, k in [(0.12, 1.4), (-0.2, 0.8)]:
        got = misclass._HazardAt(x, times)(b, v, g, k)
        assert len(misclass._HazardAt(x, times).blocks) == misclass._HazardAt.BLOCKS
        for a, e in zip(got, _direct(x, times, b, v, g, k)):
            np.testing.assert_allclose(a, e, rtol=1e-11, atol=1e-12)
        monkeypatch.setattr(misclass._HazardAt, "BLOCKS", 1)
        one = misclass._HazardAt(x, times)(b, v, g, k)
        monkeypatch.undo()
        for a, e in zip(got, one):
            assert np.array_equal(a, e)  # the same floating-point numbers
