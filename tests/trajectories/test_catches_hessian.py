"""The numerical Hessian behind the variance components' Wald CIs against analytic second derivatives
(kills the surviving mixed.py:999 mutant, which evaluated f(x - e) where f(x + e) belongs)."""

from __future__ import annotations

import importlib

import numpy as np

mixed = importlib.import_module("footdrop_outcomes.trajectories.mixed")


def test_hessian_matches_analytic_second_derivatives_of_a_deviance_like_function():
    # f(x) = exp(x0) + x0^2 x1 + log(1 + x1^2) + 3 x2^4 - x0 x2: asymmetric in each coordinate
    def f(x):
        return np.exp(x[0]) + x[0] ** 2 * x[1] + np.log1p(x[1] ** 2) + 3 * x[2] ** 4 - x[0] * x[2]

    x = np.array([0.3, -0.7, 0.5])
    h11 = np.exp(x[0]) + 2 * x[1]
    h22 = 2 * (1 - x[1] ** 2) / (1 + x[1] ** 2) ** 2
    h33 = 36 * x[2] ** 2
    want = np.array([[h11, 2 * x[0], -1.0], [2 * x[0], h22, 0.0], [-1.0, 0.0, h33]])
    got = mixed._hessian(f, x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got, got.T)
