"""Gradient providers: analytic, finite differences, torch autograd."""

from __future__ import annotations

import numpy as np
import pytest

from moo import FiniteDifferences, Problem, TorchAutograd, get_problem


def _vector_fun(x: np.ndarray) -> np.ndarray:
    return np.array([np.sin(x[0]) * x[1] ** 2, np.exp(0.3 * x[0]) + x[1] * x[2], (x**2).sum()])


def _vector_jac(x: np.ndarray) -> np.ndarray:
    return np.array(
        [
            [np.cos(x[0]) * x[1] ** 2, 2 * np.sin(x[0]) * x[1], 0.0],
            [0.3 * np.exp(0.3 * x[0]), x[2], x[1]],
            2 * x,
        ]
    )


def test_finite_differences_match_analytic() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        x = rng.uniform(-2, 2, size=3)
        fd = FiniteDifferences().jacobian(_vector_fun, x)
        np.testing.assert_allclose(fd, _vector_jac(x), rtol=1e-7, atol=1e-8)


def test_finite_differences_stay_inside_bounds() -> None:
    lower, upper = np.zeros(3), np.ones(3)
    seen: list[np.ndarray] = []

    def fun(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return _vector_fun(x)

    for x in (np.zeros(3), np.ones(3), np.array([0.0, 0.5, 1.0])):
        fd = FiniteDifferences().jacobian(fun, x, lower=lower, upper=upper)
        np.testing.assert_allclose(fd, _vector_jac(x), rtol=1e-6, atol=1e-8)
    pts = np.array(seen)
    assert pts.min() >= 0.0 and pts.max() <= 1.0


def test_finite_differences_reject_bad_step_and_narrow_bounds() -> None:
    with pytest.raises(ValueError, match=r"step must be > 0\.0, got -1\.0"):
        FiniteDifferences(step=-1.0)
    with pytest.raises(ValueError, match="narrower than the finite-difference step"):
        FiniteDifferences().jacobian(
            _vector_fun, np.zeros(3), lower=np.zeros(3), upper=np.full(3, 1e-9)
        )


def test_problem_defaults_to_finite_differences() -> None:
    exact = Problem(_vector_fun, 3, 3, jacobian=_vector_jac)
    approx = Problem(_vector_fun, 3, 3)
    x = np.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(approx.jacobian(x), exact.jacobian(x), rtol=1e-7, atol=1e-8)
    assert isinstance(approx.gradients, FiniteDifferences)


def test_torch_autograd_matches_analytic() -> None:
    torch = pytest.importorskip("torch")

    def fun_torch(x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [torch.sin(x[0]) * x[1] ** 2, torch.exp(0.3 * x[0]) + x[1] * x[2], (x**2).sum()]
        )

    problem = Problem(fun_torch, 3, 3, jacobian=TorchAutograd())
    x = np.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(problem.values(x), _vector_fun(x), rtol=1e-14)
    np.testing.assert_allclose(problem.jacobian(x), _vector_jac(x), rtol=1e-12)
    assert problem.values(x).dtype == np.float64


def test_torch_autograd_rejects_bad_dtype() -> None:
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="dtype must be 'float64' or 'float32', got 'int8'"):
        TorchAutograd(dtype="int8")


def test_core_imports_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import moo, moo.problems, moo.solvers, moo.indicators, moo.loop, moo.pareto\n"
        "p = moo.get_problem('quadratic'); r = moo.minimize(p, seed=0); print(r.reason)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "converged"


def test_catalogue_jacobian_wrong_shape_is_reported() -> None:
    problem = Problem(_vector_fun, 3, 3, jacobian=lambda x: np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"jacobian must have shape \(3, 3\), got \(3, 2\)"):
        problem.jacobian(np.zeros(3))
    assert get_problem("quadratic").jacobian(np.zeros(2)).shape == (2, 2)
