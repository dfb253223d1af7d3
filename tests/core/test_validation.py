"""`moo.validation`: the argument checks every public entry point runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moo.solvers import MGDA, UPGrad
from moo.testing import jacobians
from moo.validation import check_gramian


@pytest.mark.parametrize(
    ("gramian", "message"),
    [
        # the example: MGDA used to return weights, residual 0 and "Pareto-stationary"
        ([[1.0, -3.0, 0.0], [-3.0, 1.0, 0.0], [0.0, 0.0, 1.0]], r"not a Gramian .*\[0, 1\]"),
        (np.eye(2) * (1 + 1j), "must hold real numbers, got dtype complex128"),
        (np.array([[1, 0], [0, 1]], dtype=object), "got dtype object"),
        ([[1.0, np.nan], [np.nan, 1.0]], r"must be finite, got gramian\[0, 1\] = nan"),
        ([[1.0, 2.0], [2.5, 9.0]], "must be symmetric"),
        ([[-1.0, 0.0], [0.0, 1.0]], r"non-negative diagonal, got gramian\[0, 0\] = -1.0"),
        ([[1.0, 2.0]], "square"),
    ],
)
def test_bad_gramians_are_refused_by_every_rule(gramian: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_gramian(gramian)  # type: ignore[arg-type]
    for rule in (MGDA(), UPGrad()):
        with pytest.raises(ValueError, match=message):
            rule.weights(gramian, np.ones(np.shape(gramian)[0]))  # type: ignore[arg-type]


def test_large_matrices_take_the_same_checks() -> None:
    """K > 8 goes through NumPy only; the outcome is the same as for small K."""
    g = np.eye(12)
    g[3, 9] = g[9, 3] = 1.5
    with pytest.raises(ValueError, match=r"not a Gramian .*\[3, 9\]"):
        check_gramian(g)


def test_float32_gramian_is_checked_at_its_own_precision() -> None:
    """A Gramian formed in float32 is symmetric to about 1e-7 of its scale only."""
    rng = np.random.default_rng(0)
    jac = rng.standard_normal((20, 100)).astype(np.float32)
    g = (jac @ jac.T).astype(np.float32)
    g[2, 5] *= np.float32(1.0 + 4e-7)  # relative asymmetry ~ 5e-8 of the scale
    assert check_gramian(g).dtype == np.float64
    with pytest.raises(ValueError, match="must be symmetric"):
        check_gramian(g.astype(np.float64))  # the same values claimed exact: refused


@given(jacobians(max_objectives=12), st.sampled_from([np.float64, np.float32]))
def test_every_gramian_passes(jac: np.ndarray, dtype: type) -> None:
    """No false alarm: ``J Jᵀ`` of any drawn Jacobian (both paths: K <= 8 and above)."""
    j = jac.astype(dtype)
    np.testing.assert_array_equal(check_gramian(j @ j.T), (j @ j.T).astype(np.float64))
