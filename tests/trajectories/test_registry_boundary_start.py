"""The optimiser sequence does not stop at a bound that one start ran into (issue 16, registry scale).

On the 100,000-patient registry sample the strength model's L-BFGS-B run from the moment start
ended with the SD of the random intercept at 0 (a "converged" boundary fit, projected gradient
7e-8), while lme4's start reached SD 0.58 at a lower deviance (as 5,000-50,000 patients gave).
With a diagonal entry of L at 0 the deviance is flat in that column, so a start can stop there.
"""

from __future__ import annotations

import numpy as np

from footdrop_outcomes.trajectories import _fast


def _saddle(th: np.ndarray) -> tuple[float, np.ndarray]:
    """q = 2, theta = (L11, L21, L22): minimum 0 at (1, 0, 1); at L11 = 0 the gradient in L11 is 0
    (a stationary point on the bound, deviance 1)."""
    l11, l21, l22 = th
    f = (l11**2 - 1) ** 2 + l21**2 + (l22 - 1) ** 2
    g = np.array([4 * l11 * (l11**2 - 1), 2 * l21, 2 * (l22 - 1)])
    return float(f), g


def test_a_start_stopped_on_the_bound_is_followed_by_the_next_start():
    th, _, attempts, conv = _fast.minimise(_saddle, 2, np.array([0.0, 0.3, 0.5]), np.array([1.0, 0.0, 1.0]) * 0.7)
    assert attempts[0]["deviance"] > 0.99  # the first start stopped on the bound
    assert abs(th[0] - 1) < 1e-6 and _saddle(th)[0] < 1e-10 and conv["converged"]
    assert [a["optimizer"] for a in attempts] == ["L-BFGS-B", "L-BFGS-B"]  # Powell not needed


def test_an_interior_first_result_stops_the_sequence():
    th, _, attempts, conv = _fast.minimise(_saddle, 2, np.array([0.8, 0.3, 0.5]), np.array([1.0, 0.0, 1.0]))
    assert len(attempts) == 1 and conv["converged"] and abs(th[0] - 1) < 1e-6


def test_a_true_boundary_optimum_is_kept():
    """When the minimum is on the bound (an SD that is really 0) every start ends there: the bound is kept."""
    def f(th: np.ndarray) -> tuple[float, np.ndarray]:
        l11, l21, l22 = th
        return float((l11 + 1) ** 2 + l21**2 + (l22 - 1) ** 2), np.array([2 * (l11 + 1), 2 * l21, 2 * (l22 - 1)])

    th, _, attempts, conv = _fast.minimise(f, 2, np.array([0.5, 0.3, 0.5]), np.array([1.0, 0.0, 1.0]))
    assert th[0] == 0.0 and conv["converged"] and len(attempts) == 2
