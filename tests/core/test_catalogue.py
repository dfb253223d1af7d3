"""The synthetic catalogue: analytic Jacobians, known fronts and sets, registry errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from moo.gradients import FiniteDifferences
from moo.loop import minimize
from moo.problems import Problem, available_problems, get_problem
from moo.problems.catalogue import ZDT_X1_MIN
from moo.solvers import pareto_stationarity

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

# Small but non-default sizes keep the file fast while exercising the parameters.
CASES: dict[str, dict[str, Any]] = {
    "quadratic": {"n_obj": 3, "n_var": 4},
    "toy": {},
    "fonseca": {"n_var": 3},
    "zdt1": {"n_var": 6},
    "zdt2": {"n_var": 6},
    "zdt3": {"n_var": 6},
    "dtlz2": {"n_obj": 3},
    "mtl-regression": {},
}

N_FRONT = 60


def test_every_entry_is_tested() -> None:
    assert set(CASES) == set(available_problems())


def _problem(name: str) -> Problem:
    return get_problem(name, **CASES[name])


def _toy_smooth(x: FloatArray) -> bool:
    """Away from the toy's kinks: x2 = 0 and the floor / zero of the two log arguments."""
    x1, x2 = x
    z1 = 0.5 * (-x1 - 7.0) - math.tanh(-x2)
    z2 = 0.5 * (-x1 + 3.0) + math.tanh(-x2) + 2.0
    return abs(x2) > 0.2 and (x2 < 0 or min(abs(z1), abs(z2)) > 0.05)


def _random_points(problem: Problem, n: int, seed: int) -> list[FloatArray]:
    """``n`` points in the inner 90 % of the sampling box (off the kinks for the toy)."""
    assert problem.sampling_lower is not None and problem.sampling_upper is not None
    lo, hi = problem.sampling_lower, problem.sampling_upper
    rng = np.random.default_rng(seed)
    points: list[FloatArray] = []
    while len(points) < n:
        x = lo + (hi - lo) * rng.uniform(0.05, 0.95, size=problem.n_var)
        if problem.name != "toy" or _toy_smooth(x):
            points.append(x)
    return points


def _non_dominated(front: FloatArray, tol: float = 1e-12) -> bool:
    """No point weakly dominates another (beyond ``tol``) with a strict gain somewhere."""
    le = np.all(front[:, None, :] <= front[None, :, :] + tol, axis=2)
    lt = np.any(front[:, None, :] < front[None, :, :] - tol, axis=2)
    dominated = le & lt
    np.fill_diagonal(dominated, False)
    return not bool(dominated.any())


def _stationarity(problem: Problem, x: FloatArray) -> tuple[float, float]:
    """(min-norm of the convex hull of the gradients over the free variables, gradient scale).

    Variables at a bound are dropped: on a face of the box only the free ones must balance.
    """
    jac = problem.jacobian(x)
    if problem.lower is not None and problem.upper is not None:
        free = (x > problem.lower) & (x < problem.upper)
        jac = jac[:, free]
    scale = float(np.abs(problem.jacobian(x)).max())
    return pareto_stationarity(jac @ jac.T), scale


def _check_jacobian(problem: Problem, x: FloatArray) -> None:
    values = problem.values(x)
    assert values.shape == (problem.n_obj,)
    assert values.dtype == np.float64
    jac = problem.jacobian(x)
    assert jac.shape == (problem.n_obj, problem.n_var)
    fd = FiniteDifferences()
    approx = np.asarray(fd.jacobian(problem.fun, x, lower=problem.lower, upper=problem.upper))
    # the rounding error of central differences is about eps |f| / h ≈ 4e-11 |f|
    atol = 1e-6 * float(np.abs(jac).max()) + 1e-9 * max(1.0, float(np.abs(values).max()))
    np.testing.assert_allclose(jac, approx, rtol=1e-6, atol=atol, err_msg=f"{problem.name} {x}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_shape_and_jacobian_matches_finite_differences(name: str) -> None:
    problem = _problem(name)
    for x in _random_points(problem, 10, seed=1):
        _check_jacobian(problem, x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_matches_finite_differences_near_the_pareto_set(name: str) -> None:
    # Where the gradients conflict (and, for fonseca, are not flattened by the exponentials).
    problem = _problem(name)
    assert problem.sampling_lower is not None and problem.sampling_upper is not None
    center = 0.5 * (problem.sampling_lower + problem.sampling_upper)
    for x in problem.pareto_set(7)[1:-1]:
        _check_jacobian(problem, 0.95 * x + 0.05 * center)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pareto_set_maps_to_pareto_front(name: str) -> None:
    problem = _problem(name)
    xs = problem.pareto_set(N_FRONT)
    front = problem.pareto_front(N_FRONT)
    assert xs.shape[0] == front.shape[0] >= 2
    for x in xs:
        problem.check_point(x)  # inside the bounds
    mapped = np.stack([problem.values(x) for x in xs])
    np.testing.assert_allclose(mapped, front, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pareto_front_is_mutually_non_dominated(name: str) -> None:
    front = _problem(name).pareto_front(N_FRONT)
    assert np.all(np.isfinite(front))
    assert _non_dominated(front)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pareto_set_is_pareto_stationary(name: str) -> None:
    problem = _problem(name)
    for x in problem.pareto_set(N_FRONT):
        measure, scale = _stationarity(problem, x)
        assert measure <= 1e-6 * max(scale, 1.0), (name, x, measure)


def test_known_front_formulas() -> None:
    f = get_problem("fonseca", n_var=3).pareto_front(50)
    np.testing.assert_allclose(f[:, 1], 1.0 - np.exp(-((2.0 - np.sqrt(-np.log1p(-f[:, 0]))) ** 2)))

    f = get_problem("zdt1").pareto_front(50)
    np.testing.assert_allclose(f[:, 1], 1.0 - np.sqrt(f[:, 0]))
    assert f[:, 0].min() == pytest.approx(ZDT_X1_MIN) and f[:, 0].max() == 1.0

    f = get_problem("zdt2").pareto_front(50)
    np.testing.assert_allclose(f[:, 1], 1.0 - f[:, 0] ** 2)
    assert f[:, 0].min() == 0.0 and f[:, 0].max() == 1.0

    f = get_problem("zdt3").pareto_front(50)
    np.testing.assert_allclose(
        f[:, 1], 1.0 - np.sqrt(f[:, 0]) - f[:, 0] * np.sin(10.0 * np.pi * f[:, 0])
    )

    for n_obj in (2, 3, 4):
        f = get_problem("dtlz2", n_obj=n_obj).pareto_front(40)
        assert np.all(f >= 0.0)
        np.testing.assert_allclose(np.sum(f**2, axis=1), 1.0)


@pytest.mark.parametrize("n_obj", [2, 4])
def test_dtlz2_other_sizes(n_obj: int) -> None:
    problem = get_problem("dtlz2", n_obj=n_obj, n_var=n_obj + 2)
    for x in _random_points(problem, 5, seed=n_obj):
        _check_jacobian(problem, x)
    xs = problem.pareto_set(30)
    mapped = np.stack([problem.values(x) for x in xs])
    np.testing.assert_allclose(mapped, problem.pareto_front(30), atol=1e-12)
    for x in xs:
        measure, scale = _stationarity(problem, x)
        assert measure <= 1e-6 * max(scale, 1.0)


def test_zdt3_front_is_the_five_known_pieces() -> None:
    # Piece ends of the ZDT3 front (Zitzler et al.); the grid resolves them to ~1e-5.
    pieces = [
        (0.0, 0.0830015349),
        (0.1822287280, 0.2577623634),
        (0.4093136748, 0.4538821041),
        (0.6183967944, 0.6525117038),
        (0.8233317983, 0.8518328654),
    ]
    x1 = get_problem("zdt3").pareto_set(100_000)[:, 0]
    inside = np.zeros(x1.size, dtype=bool)
    for lo, hi in pieces:
        inside |= (x1 >= lo - 2e-5) & (x1 <= hi + 2e-5)
        assert np.any((x1 >= lo - 2e-5) & (x1 <= lo + 2e-5)) or lo == 0.0
        assert np.any((x1 >= hi - 2e-5) & (x1 <= hi + 2e-5))
    assert inside.all()


def test_zdt3_dominated_stationary_points() -> None:
    # On the descending stretch just before the second piece the curve is Pareto-stationary
    # but dominated by the first piece: gradient methods may stop there.
    problem = get_problem("zdt3", n_var=4)
    x = np.array([0.17, 0.0, 0.0, 0.0])
    measure, _ = _stationarity(problem, x)
    assert measure < 1e-6
    fx = problem.values(x)
    front = problem.pareto_front(200)
    assert np.any(np.all(front <= fx, axis=1) & np.any(front < fx, axis=1))


def test_toy_front_end_points_and_cache() -> None:
    problem = get_problem("toy")
    front = problem.pareto_front(101)
    # end points: the minimizers of f1 and f2 alone
    np.testing.assert_allclose(front[0], [-0.3979395, -19.98942514], rtol=1e-6)
    np.testing.assert_allclose(front[-1], [-19.98942514, -0.3979395], rtol=1e-6)
    xs = problem.pareto_set(101)
    assert np.all((xs[:, 1] > -8.44) & (xs[:, 1] < -8.35))
    xs[:] = 0.0  # a returned array is a copy: the cache is untouched
    assert np.all(problem.pareto_set(101)[:, 1] < -8.3)
    # every point of the x2 >= 0 half-plane is dominated (values >= log(5e-6) + 6)
    rng = np.random.default_rng(3)
    for x in rng.uniform([-10.0, 0.0], [10.0, 10.0], size=(200, 2)):
        assert np.all(problem.values(x) >= math.log(5e-6) + 6.0 - 1e-12)


def test_toy_front_is_not_dominated_by_sampled_points() -> None:
    problem = get_problem("toy")
    front = problem.pareto_front(200)
    grid = np.linspace(-10.0, 10.0, 81)
    near = np.random.default_rng(4).uniform([-7.5, -9.0], [7.5, -7.5], size=(3000, 2))
    points = np.concatenate([np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2), near])
    values = np.stack([problem.values(x) for x in points])
    for f in front:
        beats = np.all(values <= f, axis=1) & np.any(values < f - 1e-12, axis=1)
        assert not beats.any(), (f, points[beats][:3])


def test_toy_jacobian_one_sided_at_x2_zero() -> None:
    problem = get_problem("toy")
    x = np.array([1.0, 0.0])
    h = 1e-7
    right = (problem.values(x + np.array([0.0, h])) - problem.values(x)) / h
    np.testing.assert_allclose(problem.jacobian(x)[:, 1], right, rtol=1e-5)


def test_zdt1_jacobian_at_x1_zero_raises() -> None:
    problem = get_problem("zdt1", n_var=3)
    assert problem.lower is not None and problem.lower[0] == ZDT_X1_MIN
    assert get_problem("zdt2", n_var=3).lower[0] == 0.0  # type: ignore[index]
    with pytest.raises(ValueError, match="x1"):
        problem.jacobian(np.zeros(3))
    assert np.all(np.isfinite(problem.jacobian(np.array([ZDT_X1_MIN, 0.0, 0.0]))))


def test_default_sizes() -> None:
    assert get_problem("zdt1").n_var == 10
    assert get_problem("fonseca").n_var == 2
    p = get_problem("dtlz2")
    assert (p.n_obj, p.n_var) == (3, 12)
    assert get_problem("dtlz2", n_obj=5).n_var == 14
    p = get_problem("mtl-regression")
    assert (p.n_obj, p.n_var) == (3, 5)
    assert p.objective_names == ["task1", "task2", "task3"]
    assert (get_problem("toy").n_obj, get_problem("toy").n_var) == (2, 2)


def test_bounds_as_pymoo_reads_them() -> None:
    """``xl, xu = problem.bounds()`` (pymoo's accessor) and the aliases ``xl``, ``xu``."""
    problem = get_problem("zdt1", n_var=3)
    xl, xu = problem.bounds()
    np.testing.assert_array_equal(xl, [ZDT_X1_MIN, 0.0, 0.0])
    np.testing.assert_array_equal(xu, [1.0, 1.0, 1.0])
    assert problem.xl is problem.lower and problem.xu is problem.upper
    assert xl is not None
    xl[0] = -5.0  # a copy: the problem keeps its bounds
    assert problem.lower is not None and problem.lower[0] == ZDT_X1_MIN
    np.testing.assert_array_equal(problem.sampling_bounds(), problem.bounds())
    unbounded = get_problem("quadratic")
    assert unbounded.bounds() == (None, None) and unbounded.xl is None and unbounded.xu is None
    np.testing.assert_array_equal(unbounded.sampling_bounds(), [[-2.0, -2.0], [2.0, 2.0]])
    assert Problem(lambda x: x, 2, 2).sampling_bounds() == (None, None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_starts_are_drawn_from_the_sampling_box(name: str) -> None:
    """``minimize`` without ``x0`` starts inside ``sampling_bounds()``, which lies inside
    the bounds of a bounded problem."""
    problem = _problem(name)
    lower, upper = problem.sampling_bounds()
    assert lower is not None and upper is not None
    if problem.bounded:
        xl, xu = problem.bounds()
        assert np.all(xl <= lower) and np.all(upper <= xu)  # type: ignore[operator]
    for seed in range(3):
        x0 = minimize(problem, seed=seed, steps=0).history.x[0]
        assert np.all(lower <= x0) and np.all(x0 <= upper)


def test_fonseca_sampling_box() -> None:
    """Fonseca-Fleming draws its starts from [-1.5, 1.5]^n by default (not from its bounds
    [-4, 4]^n: farther out it is a plateau); ``sampling_box=4`` draws from the whole box."""
    default = get_problem("fonseca", n_var=3)
    np.testing.assert_array_equal(default.sampling_bounds(), [[-1.5] * 3, [1.5] * 3])
    np.testing.assert_array_equal(default.bounds(), [[-4.0] * 3, [4.0] * 3])
    assert "starts in [-1.5, 1.5]^3" in default.description
    whole = get_problem("fonseca", sampling_box=4)
    np.testing.assert_array_equal(whole.sampling_bounds(), whole.bounds())


def test_mtl_regression_is_deterministic_per_seed() -> None:
    x = np.linspace(-1.0, 1.0, 5)
    a = get_problem("mtl-regression", seed=4).values(x)
    np.testing.assert_array_equal(a, get_problem("mtl-regression", seed=4).values(x))
    assert not np.allclose(a, get_problem("mtl-regression", seed=5).values(x))


# ---- registry and Problem errors ---------------------------------------------------------------


def test_unknown_problem_lists_available() -> None:
    with pytest.raises(ValueError, match="unknown problem 'nope'") as info:
        get_problem("nope")
    for name in ("zdt1", "dtlz2", "toy", "mtl-regression"):
        assert name in str(info.value)


def test_unknown_parameter_lists_valid() -> None:
    with pytest.raises(ValueError, match="n_objs") as info:
        get_problem("dtlz2", n_objs=3)
    assert "valid: n_obj, n_var" in str(info.value)
    with pytest.raises(ValueError, match=r"valid: \(none\)"):
        get_problem("toy", n_var=2)


@pytest.mark.parametrize(
    ("name", "parameters", "argument"),
    [
        ("fonseca", {"n_var": 0}, "n_var"),
        ("fonseca", {"sampling_box": 0.0}, "sampling_box must be > 0.0, got 0.0"),
        ("fonseca", {"sampling_box": 4.5}, "sampling_box must be <= 4.0, got 4.5"),
        ("zdt1", {"n_var": 1}, "n_var"),
        ("zdt3", {"n_var": 0}, "n_var"),
        ("dtlz2", {"n_obj": 1}, "n_obj"),
        ("dtlz2", {"n_obj": 3, "n_var": 2}, "n_var"),
        ("mtl-regression", {"n_var": 0}, "n_var"),
        ("mtl-regression", {"n_obj": 0}, "n_obj"),
        ("mtl-regression", {"n_var": 5, "n_samples": 3}, "n_samples"),
        ("mtl-regression", {"seed": -1}, "seed"),
        ("quadratic", {"n_var": 0}, "n_var"),
    ],
)
def test_invalid_parameter_values_name_the_argument(
    name: str, parameters: dict[str, Any], argument: str
) -> None:
    with pytest.raises(ValueError, match=argument):
        get_problem(name, **parameters)


def test_non_integer_parameter_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="n_var"):
        get_problem("zdt1", n_var=2.5)


def test_non_finite_value_names_the_objective() -> None:
    problem = Problem(lambda x: np.array([x[0], np.inf]), 1, 2, objective_names=["loss", "penalty"])
    with pytest.raises(ValueError, match="objective 'penalty'"):
        problem.values(np.array([1.0]))


def test_check_point_outside_bounds_names_the_index() -> None:
    problem = get_problem("zdt2", n_var=3)
    with pytest.raises(ValueError, match=r"x\[2\] = 1.5"):
        problem.check_point(np.array([0.5, 0.0, 1.5]))
    with pytest.raises(ValueError, match="length 3"):
        problem.check_point(np.zeros(2))


def test_from_functions_empty_list() -> None:
    with pytest.raises(ValueError, match="empty"):
        Problem.from_functions([], 2)


def test_from_functions_gradients_agree_with_finite_differences() -> None:
    functions = [
        lambda x: float(np.sum((x - 1.0) ** 2)),
        lambda x: float(np.sin(x[0]) * x[1]),
    ]
    gradients = [
        lambda x: 2.0 * (x - 1.0),
        lambda x: np.array([np.cos(x[0]) * x[1], np.sin(x[0])]),
    ]
    exact = Problem.from_functions(functions, 2, gradients=gradients)
    approx = Problem.from_functions(functions, 2)
    assert isinstance(approx.gradients, FiniteDifferences)
    for x in np.random.default_rng(2).uniform(-2.0, 2.0, size=(5, 2)):
        np.testing.assert_allclose(exact.values(x), approx.values(x))
        np.testing.assert_allclose(exact.jacobian(x), approx.jacobian(x), rtol=1e-7, atol=1e-8)
    with pytest.raises(ValueError, match="one entry per function"):
        Problem.from_functions(functions, 2, gradients=gradients[:1])
