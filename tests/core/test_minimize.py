"""The minimize loop, step-size rules, bounds, multi-start fronts, indicators."""

from __future__ import annotations

import math

import numpy as np
import pytest

import moo
from moo import (
    Armijo,
    ConstantStep,
    LinearScalarization,
    Problem,
    distance_to_front,
    get_problem,
    hypervolume,
    igd,
    igd_plus,
    minimize,
    non_dominated,
    pareto_front,
)
from moo.loop import TolMode


def _two_parabolas(bounds: tuple[float, float] | None = None) -> Problem:
    """f1 = |x - a|², f2 = |x - b|²: the Pareto set is the segment [a, b]."""
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    return Problem(
        lambda x: np.array([((x - a) ** 2).sum(), ((x - b) ** 2).sum()]),
        2,
        2,
        jacobian=lambda x: np.stack([2 * (x - a), 2 * (x - b)]),
        bounds=None if bounds is None else (bounds[0], bounds[1]),
        sampling_bounds=(-3.0, 3.0),
        name="parabolas",
    )


def test_mgda_decreases_every_objective_and_converges() -> None:
    result = minimize(_two_parabolas(), "mgda", x0=[2.5, -1.5])
    assert result.converged and result.reason == "converged"
    assert result.history.direction_norm.shape == (result.n_steps,)
    assert np.all(np.diff(result.history.F, axis=0) < 0.0)
    # the end point is on the segment x1 + x2 = 1, 0 <= x1 <= 1
    assert abs(result.x.sum() - 1.0) < 1e-6 and -1e-9 <= result.x[0] <= 1 + 1e-9
    assert result.stationarity <= 1e-6


def test_history_shapes_and_bookkeeping() -> None:
    problem = get_problem("quadratic", n_obj=3, n_var=4)
    result = minimize(problem, "mgda", seed=3)
    h, n = result.history, result.n_steps
    assert h.x.shape == (n + 1, 4) and h.F.shape == (n + 1, 3) and h.weights.shape == (n, 3)
    assert h.step_size.shape == h.rule_time.shape == h.residual.shape == (n,)
    assert h.stationarity.shape == (n + 1,)
    assert np.all(h.step_size > 0) and np.all(h.rule_time >= 0) and np.all(h.residual <= 1e-9)
    np.testing.assert_allclose(h.weights.sum(axis=1), 1.0)
    np.testing.assert_array_equal(h.x[-1], result.x)
    assert result.n_jacobian_evaluations == n + 1
    assert result.n_value_evaluations >= n + 1
    assert result.rule == "MGDA(normalization='none')"


def test_same_seed_same_run() -> None:
    problem = get_problem("quadratic")
    a, b = minimize(problem, seed=7), minimize(problem, seed=7)
    np.testing.assert_array_equal(a.history.x, b.history.x)


def test_linear_scalarization_reaches_the_weighted_minimizer() -> None:
    result = minimize(_two_parabolas(), LinearScalarization([0.25, 0.75]), x0=[3.0, 3.0])
    assert result.converged
    np.testing.assert_allclose(result.x, [0.25, 0.75], atol=1e-6)


def test_constant_step_and_max_steps() -> None:
    result = minimize(_two_parabolas(), "mgda", x0=[2.0, 2.0], step_size=0.01, steps=5)
    assert result.reason == "max steps" and result.n_steps == 5 and not result.converged
    np.testing.assert_allclose(result.history.step_size, 0.01)


def test_callback_stops_the_run() -> None:
    calls: list[int] = []

    def stop_after_two(step: int, x: np.ndarray, F: np.ndarray) -> bool:
        calls.append(step)
        return step == 1

    problem = get_problem("quadratic", n_obj=3, n_var=4)
    result = minimize(problem, seed=3, callback=stop_after_two)
    assert result.reason == "callback" and calls == [0, 1] and result.n_steps == 2
    assert result.history.stationarity.shape == (3,)


def test_line_search_failure_is_reported() -> None:
    # a wrong Jacobian: its "descent" direction increases the objectives
    problem = Problem(
        lambda x: np.array([(x**2).sum(), ((x - 1) ** 2).sum()]),
        2,
        2,
        jacobian=lambda x: np.stack([-2 * x, -2 * (x - 1)]),
    )
    result = minimize(problem, x0=[3.0, 3.0], step_size=Armijo(max_backtracks=5))
    assert result.reason == "line search failed" and result.n_steps == 0


def _two_wells(sign: float = 1.0) -> Problem:
    """``f = (|x − 1|² + 1, |x + 1|² + 1)`` in 2-d; ``sign = -1`` gives a wrong Jacobian."""
    return Problem(
        lambda x: np.array([((x - 1) ** 2).sum() + 1.0, ((x + 1) ** 2).sum() + 1.0]),
        2,
        2,
        jacobian=lambda x: sign * np.stack([2 * (x - 1), 2 * (x + 1)]),
    )


def test_line_search_failure_at_a_pareto_stationary_point_is_stationary() -> None:
    # x0 on the Pareto set (the segment between the wells): the wrong Jacobian makes the
    # linear rule's step fail, but the point is certified Pareto-stationary
    result = minimize(_two_wells(-1.0), "linear", x0=[0.5, 0.5], step_size=Armijo(max_backtracks=5))
    assert result.reason == "stationary" and result.converged and result.n_steps == 0
    assert result.stationarity <= 1e-6
    # off the set the same failure stays a failure
    far = minimize(_two_wells(-1.0), "linear", x0=[3.0, 3.0], step_size=Armijo(max_backtracks=5))
    assert far.reason == "line search failed" and not far.converged


def test_tol_below_the_rounding_floor_ends_at_the_floor() -> None:
    """``tol = 0`` cannot be reached: the first step lands on the Pareto set, where MGDA's
    direction is rounding noise and no step can show a decrease; the run has converged all
    the same. Whether the direction there comes out exactly 0 ("converged", ``||d|| <= 0``),
    the Gramian exactly singular (stationarity 0: "stationary") or neither ("rounding floor")
    depends on the rounding of the BLAS kernels and of the K = 2 closed form."""
    result = minimize(_two_wells(), "mgda", x0=[2.3, -2.0], tol=0.0, steps=5000)
    assert result.reason in ("converged", "rounding floor", "stationary") and result.converged
    assert result.n_steps < 10 and result.stationarity <= 1e-7


@pytest.mark.parametrize(("slope", "floor"), [(1e-17, True), (1e-12, False)])
def test_armijo_reports_a_decrease_below_the_rounding_of_the_values(
    slope: float, floor: bool
) -> None:
    """A Jacobian that promises a decrease ``t0 · |d|² = slope`` where the values rise
    (``1 + |x_1|^¼``): every trial is rejected, at the rounding floor when ``slope`` is within
    16 ulps of the values (here 1: 16 eps ≈ 3.6e-15)."""
    g = math.sqrt(slope)
    problem = Problem(
        lambda x: np.full(2, 1.0 + abs(x[0]) ** 0.25),
        2,
        2,
        jacobian=lambda x: np.array([[g, 0.0], [g, 0.0]]),
    )
    x = np.zeros(2)
    F, jac = problem.values(x), problem.jacobian(x)
    rule = moo.get_rule("mgda")
    result = rule.weights(jac @ jac.T, F)
    outcome = Armijo().step(problem, x, F, jac.T @ result.weights, jac, rule, result)
    assert not outcome.accepted
    assert outcome.at_rounding_floor is floor
    run = minimize(problem, "mgda", x0=x, tol=0.0)
    assert run.reason == ("rounding floor" if floor else "line search failed")


def test_armijo_tries_no_step_that_rounding_alone_would_pass() -> None:
    """Constant values and a Jacobian promising a decrease of 1e-17: ``1 − σ · 1e-17`` rounds
    to 1, so every trial would pass the test without changing anything. No trial passes (the
    values must decrease strictly): the step is rejected at the rounding floor, and the run
    stops there (not at ``steps``)."""
    g = math.sqrt(1e-17)
    problem = Problem(lambda x: np.ones(2), 2, 2, jacobian=lambda x: np.array([[g, 0.0], [g, 0.0]]))
    x = np.zeros(2)
    F, jac = problem.values(x), problem.jacobian(x)
    rule = moo.get_rule("mgda")
    result = rule.weights(jac @ jac.T, F)
    outcome = Armijo().step(problem, x, F, jac.T @ result.weights, jac, rule, result)
    assert not outcome.accepted and outcome.at_rounding_floor
    run = minimize(problem, "mgda", x0=x, tol=0.0, steps=100)
    assert run.reason == "rounding floor" and run.n_steps == 0


def test_bounds_end_on_the_boundary_pareto_stationary() -> None:
    # the unconstrained Pareto set (segment from (1,0) to (0,1)) is cut by x <= 0.4
    problem = _two_parabolas(bounds=(-1.0, 0.4))
    pf = pareto_front(problem, n_starts=8, seed=1)
    assert pf.n_converged == 8
    for r in pf.results:
        assert np.all(r.x <= 0.4 + 1e-12) and r.stationarity <= 1e-6
    # the constrained Pareto set is the segment x1 + x2 = 1 with both coordinates <= 0.4
    # (empty), so the runs end at the corner-side points x = (0.4, t) or (t, 0.4), t <= 0.4
    assert all(np.isclose(r.x.max(), 0.4) for r in pf.results)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x0": [1.0]}, ValueError, "x0 must have length 2, got length 1"),
        ({"x0": [np.nan, 0.0]}, ValueError, r"x0 must be finite, got x0\[0\] = nan"),
        ({"steps": -1}, ValueError, "steps must be >= 0, got -1"),
        ({"tol": -1e-3}, ValueError, r"tol must be >= 0.0, got -0.001"),
        ({"step_size": -0.5}, ValueError, r"step size must be > 0.0, got -0.5"),
        ({"step_size": "big"}, TypeError, "step_size must be a StepSize"),
        ({"rule": "sgd"}, ValueError, "unknown rule 'sgd'"),
        ({"rule_options": {"c": 1}}, ValueError, "unknown hyperparameter"),
        ({"rule_options": {"c": 1}, "method_options": {}}, TypeError, "not both"),
        ({"methd": "mgda"}, TypeError, "unexpected keyword argument"),
        ({"tol_mode": "rel"}, ValueError, "tol_mode must be one of 'absolute', 'relative'"),
        ({"tol_mode": None}, ValueError, "tol_mode must be one of .*; got None"),
        ({"tol_mode": "relative", "tol": 1.0}, ValueError, "tol must be < 1 with tol_mode="),
        ({"tol_mode": "relative", "tol": -0.5}, ValueError, r"tol must be >= 0.0, got -0.5"),
    ],
)
@pytest.mark.filterwarnings("ignore:minimize\\(method_options=:DeprecationWarning")
def test_bad_arguments(kwargs: dict[str, object], error: type, message: str) -> None:
    options = {"x0": [0.0, 0.0], **kwargs}
    with pytest.raises(error, match=message):
        minimize(_two_parabolas(), **options)  # type: ignore[arg-type]


def test_former_keywords_still_work_with_a_warning() -> None:
    """``method=``/``method_options=`` (and ``Result.method``) are deprecated aliases of
    ``rule=``/``rule_options=`` (``Result.rule``) for one release."""
    new = minimize(_two_parabolas(), "mgda", x0=[0.0, 0.0], rule_options={"normalization": "l2"})
    with pytest.warns(DeprecationWarning, match=r"minimize\(method(_options)?=...\) is deprecated"):
        old = minimize(
            _two_parabolas(), x0=[0.0, 0.0], method="mgda", method_options={"normalization": "l2"}
        )
    np.testing.assert_array_equal(old.history.x, new.history.x)
    with pytest.warns(DeprecationWarning, match="use Result.rule"):
        assert old.method == new.rule == "MGDA(normalization='l2')"


def test_start_outside_bounds_names_the_index() -> None:
    with pytest.raises(ValueError, match=r"x0 is outside the bounds .* x0\[1\] = 2.0"):
        minimize(_two_parabolas(bounds=(-1.0, 1.0)), x0=[0.0, 2.0])


def test_non_finite_objective_names_the_objective() -> None:
    problem = Problem(
        lambda x: np.array([x[0], np.inf * x[0]]), 1, 2, objective_names=["cost", "risk"]
    )
    with pytest.raises(ValueError, match="values of objective 'risk' is not finite"):
        minimize(problem, x0=[-1.0])


def test_unbounded_problem_without_start_box() -> None:
    problem = Problem(lambda x: np.array([x[0] ** 2, (x[0] - 1) ** 2]), 1, 2, name="p")
    with pytest.raises(ValueError, match="problem 'p' has no bounds or sampling_bounds"):
        minimize(problem)


def test_armijo_validates_hyperparameters() -> None:
    with pytest.raises(ValueError, match=r"shrink must be < 1.0, got 1.0"):
        Armijo(shrink=1.0)
    with pytest.raises(ValueError, match="condition must be one of"):
        Armijo(condition="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"size must be > 0.0"):
        ConstantStep(0.0)


def test_pareto_front_is_non_dominated_and_sorted() -> None:
    problem = get_problem("quadratic")
    pf = pareto_front(problem, n_starts=12, seed=0)
    assert len(pf.results) == 12 and pf.n_converged == 12
    assert np.all(non_dominated(pf.F)) and np.all(np.diff(pf.F[:, 0]) >= 0)
    assert distance_to_front(pf.F, problem.pareto_front(4000)).max() < 5e-3


def test_pareto_front_explicit_starts_and_errors() -> None:
    problem = _two_parabolas()
    pf = pareto_front(problem, starts=[[2.0, 0.0], [0.0, 2.0]])
    assert len(pf.results) == 2
    with pytest.raises(ValueError, match="starts must be a non-empty"):
        pareto_front(problem, starts=np.zeros((0, 2)))
    with pytest.raises(ValueError, match="n_starts must be >= 1, got 0"):
        pareto_front(problem, n_starts=0)


def test_indicators_on_a_known_set() -> None:
    pytest.importorskip("moocore")  # hypervolume and igd_plus
    F = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(non_dominated(F), [True, True, True, False])
    assert hypervolume(F, [2.0, 2.0]) == pytest.approx(4.0 - 0.5 - 0.25)
    front = F[:3]
    assert igd(front, front) == 0.0 and igd_plus(front, front) == 0.0
    assert igd(F[[0]], front) == pytest.approx((0 + np.sqrt(0.5) + np.sqrt(2)) / 3)
    np.testing.assert_allclose(distance_to_front([[0.5, 0.6]], front), [0.1])
    with pytest.raises(ValueError, match="front must have 2 columns"):
        igd(F, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="reference_point must be 2 finite numbers"):
        hypervolume(F, [1.0])


def test_igd_matches_moocore() -> None:
    moocore = pytest.importorskip("moocore")
    rng = np.random.default_rng(0)
    F, front = rng.random((30, 3)), rng.random((200, 3))
    assert igd(F, front) == pytest.approx(float(moocore.igd(F, ref=front)), rel=1e-12)


def test_pareto_front_former_keywords_warn_at_the_callers_line() -> None:
    problem = _two_parabolas()
    options = {"normalization": "l2"}
    new = moo.pareto_front(problem, "mgda", starts=[[0.0, 0.0]], rule_options=options)
    with pytest.warns(DeprecationWarning, match=r"pareto_front\(method(_options)?=") as record:
        old = moo.pareto_front(
            problem, starts=[[0.0, 0.0]], method="mgda", method_options={"normalization": "l2"}
        )
    assert {w.filename for w in record} == {__file__}
    np.testing.assert_array_equal(old.F, new.F)


def test_bad_bounds_starts_and_seeds_name_the_argument() -> None:
    """These used to give NumPy's broadcast error, a misleading "objective f1 is not finite"
    and NumPy's unnamed seed message."""
    f = lambda x: np.array([x @ x, (x - 1.0) @ (x - 1.0)])  # noqa: E731
    with pytest.raises(ValueError, match=r"bounds\[0\] must be a scalar or have length n_var = 2"):
        Problem(f, 2, 2, bounds=([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]))
    unbounded = Problem(f, 2, 2, bounds=(-np.inf, np.inf))
    with pytest.raises(ValueError, match=r"sampling box is infinite in variable 0.*give x0"):
        minimize(unbounded)
    assert minimize(unbounded, x0=[3.0, -1.0]).converged  # with x0 it runs
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        minimize(_two_parabolas(), seed=-1)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        moo.pareto_front(_two_parabolas(), seed=-1)


def test_pareto_front_keeps_the_finished_runs_when_a_start_fails() -> None:
    """A start whose run meets a non-finite objective used to throw the finished runs away."""
    base = _two_parabolas()

    def values(x: np.ndarray) -> np.ndarray:
        out = base.values(x)
        return np.full(2, np.nan) if x[0] > 2.0 else out  # blows up far to the right

    problem = Problem(values, 2, 2, jacobian=base.jacobian, sampling_bounds=(-3.0, 3.0))
    starts = [[0.5, 0.5], [2.5, 0.0], [0.0, 0.2]]
    front = moo.pareto_front(problem, "mgda", starts=starts)
    assert len(front.results) == 2
    assert [i for i, _ in front.failed] == [1]
    assert "not finite" in front.failed[0][1]
    with pytest.raises(ValueError, match="not finite"):  # every start failing still raises
        moo.pareto_front(problem, "mgda", starts=[[2.5, 0.0]])
    with pytest.raises(ValueError, match="unknown rule"):  # bad arguments fail every start
        moo.pareto_front(base, "nosuch", n_starts=2)


def test_a_constant_step_that_leaves_the_finite_region_is_a_divergence() -> None:
    """``step_size=1e308`` used to end in "objective f1 is not finite" (a ValueError)."""
    problem = moo.get_problem("quadratic")
    x0 = np.array([1.0, 2.0])
    run = minimize(problem, step_size=1e308, x0=x0)
    assert run.reason == "diverged" and not run.converged
    np.testing.assert_array_equal(run.x, x0)  # the last finite point
    assert np.all(np.isfinite(run.F))


def test_armijo_backtracks_from_trials_where_the_objectives_are_not_finite() -> None:
    """A trial beyond the finite region is a rejected trial, not an error."""
    base = _two_parabolas()

    def values(x: np.ndarray) -> np.ndarray:
        return np.full(2, np.inf) if np.abs(x).max() > 4.0 else base.values(x)

    problem = Problem(values, 2, 2, jacobian=base.jacobian)
    run = minimize(problem, x0=[2.5, -1.5], step_size=moo.Armijo(initial=100.0))
    assert run.converged, run.reason


# ---- stop reasons and the scale-aware tolerance -------------------------------------------------


def test_stop_reasons_lists_every_reason_the_loop_assigns() -> None:
    """`STOP_REASONS` (which the docs test checks against getting-started.md) holds every
    string literal that moo/loop.py assigns to ``reason``, and nothing else."""
    import ast
    import inspect

    from moo import loop

    assigned = {
        node.value.value
        for node in ast.walk(ast.parse(inspect.getsource(loop)))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    }
    assert assigned == set(loop.STOP_REASONS)
    assert set(loop.CONVERGED_REASONS) <= set(loop.STOP_REASONS)


def _scaled(problem: Problem, factor: float) -> Problem:
    """``factor · f``: every objective scaled by one positive constant."""
    return Problem(
        lambda x: factor * problem.values(x),
        problem.n_var,
        problem.n_obj,
        jacobian=lambda x: factor * problem.jacobian(x),
    )


@pytest.mark.parametrize("factor", [1.0, 1e-9])
def test_relative_tolerance_ignores_a_common_scale(factor: float) -> None:
    """Scaled by 1e-9, every gradient is below the absolute ``tol``: the absolute test calls
    any start converged, the relative one only a Pareto-stationary point."""
    problem = _scaled(_two_parabolas(), factor)
    away = [2.0, -1.0]  # off the Pareto set [a, b]: the gradients do not cancel
    absolute = minimize(problem, x0=away, steps=0)
    relative = minimize(problem, x0=away, steps=0, tol_mode="relative")
    assert absolute.reason == ("converged" if factor < 1.0 else "max steps")
    assert relative.reason == "max steps"
    on_set = minimize(problem, x0=[0.25, 0.75], steps=0, tol_mode="relative")
    assert on_set.reason == "converged" and on_set.n_steps == 0


def test_relative_tolerance_judges_a_failed_line_search_relatively() -> None:
    """The "stationary" test after a rejected step is relative too: on the Pareto set the
    (wrong-signed) gradients cancel exactly; off it the failure stays a failure."""
    fail = Armijo(max_backtracks=5)
    problem = _scaled(_two_wells(-1.0), 1e-9)
    on = minimize(problem, "linear", x0=[0.5, 0.5], step_size=fail, tol_mode="relative")
    assert on.reason == "stationary" and on.n_steps == 0
    far = minimize(problem, "linear", x0=[3.0, 3.0], step_size=fail, tol_mode="relative")
    assert far.reason == "line search failed" and not far.converged


def _fonseca_whole_box(tol_mode: TolMode, step_size: Armijo | None) -> tuple[list[str], np.ndarray]:
    """MGDA from 24 seeded starts in Fonseca-Fleming's whole box ``[-4, 4]²``: the stop
    reasons and each end point's distance to the known front."""
    problem = get_problem("fonseca", sampling_box=4.0)
    np.testing.assert_array_equal(problem.sampling_bounds(), problem.bounds())
    rng = np.random.default_rng(0)
    starts = rng.uniform(-4.0, 4.0, size=(24, 2))
    runs = [
        minimize(problem, "mgda", x0=x0, steps=60, tol_mode=tol_mode, step_size=step_size)
        for x0 in starts
    ]
    ends = np.array([r.F for r in runs])
    return [r.reason for r in runs], distance_to_front(ends, problem.pareto_front(4000))


def test_fonseca_plateau_is_not_converged_with_the_relative_tolerance() -> None:
    """Far from both wells every gradient is tiny (down to 1e-19) but they point the same
    way. The absolute tolerance calls a third of the starts converged on that plateau; the
    relative one calls none of them "converged" (they end at the step budget, or at the
    rounding floor where float64 no longer sees the objectives change along steps t <= 1),
    and with steps long enough to leave the plateau more of them reach the front."""

    def converged_off_front(reasons: list[str], distance: np.ndarray) -> int:
        return sum(r == "converged" and d > 1e-3 for r, d in zip(reasons, distance, strict=True))

    reasons, distance = _fonseca_whole_box("absolute", None)
    assert converged_off_front(reasons, distance) >= 8  # 8 of 24, f ≈ (1, 1)
    assert np.all(distance[distance > 1e-3] > 0.1)  # off the front = on the plateau

    reasons, distance = _fonseca_whole_box("relative", None)
    assert converged_off_front(reasons, distance) == 0
    assert {r for r, d in zip(reasons, distance, strict=True) if d > 1e-3} == {
        "max steps",
        "rounding floor",
    }

    long_steps = Armijo(initial=1e8)  # t up to 1e8: gradients as small as 1e-8 move x by ~1
    absolute = _fonseca_whole_box("absolute", long_steps)[1]
    reasons, relative = _fonseca_whole_box("relative", long_steps)
    assert converged_off_front(reasons, relative) == 0
    assert (relative < 1e-3).sum() >= (absolute < 1e-3).sum() + 4  # 21 against 16
