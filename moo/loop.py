"""The minimize loop: iterate an update rule on a `Problem`.

One iteration: Jacobian ``J`` and values ``f`` at ``x`` → the rule's direction ``d`` (a
`Weighting`'s weights ``w`` from ``G = J Jᵀ`` and ``f``, then ``d = Jᵀ w``; a
`DirectionRule`'s ``d`` from ``J``) → step ``x⁺ = P(x − t d)`` with a step-size rule (Armijo
backtracking by default) and the projection ``P`` onto the box bounds.

Box bounds. A variable sitting on a bound is *fixed* for the step when moving along the
min-norm (MGDA) direction would push it outside: its Jacobian column is zeroed before the rule
sees it, found by a short active-set loop on the min-norm problem. The stationarity recorded in
the history, ``min_{w ∈ Δ} ||J_Fᵀ w||`` over the free variables ``F``, is then ``0`` exactly at
Pareto-stationary points of the box-constrained problem.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from moo.problems import Problem
from moo.solvers import ParetoStationaryError, UpdateRule, Weighting, get_rule
from moo.solvers._min_norm import min_norm_weights, stationarity
from moo.steps import ROUNDING_ULPS, Armijo, ConstantStep, StepSize
from moo.validation import FloatArray, check_choice, check_int, check_real


@dataclass(frozen=True)
class History:
    """Per-iteration record of a run with ``n`` steps taken.

    Attributes:
        x: iterates, shape ``(n + 1, d)`` (``x[0]`` is the start).
        F: objective values at the iterates, ``(n + 1, K)``.
        weights: the rule's weights at each step, ``(n, K)``.
        direction_norm: ``||d||`` of the rule's direction at each step, ``(n,)``.
        stationarity: Pareto-stationarity ``min_{w ∈ Δ} ||J_Fᵀ w||`` at each iterate,
            ``(n + 1,)`` (the last entry is measured at the final point).
        step_size: accepted step size ``t`` at each step, ``(n,)``.
        rule_time: seconds spent in the rule's own call at each step, ``(n,)``: a weighting's
            `~moo.solvers.Weighting.weights` (the Gramian ``G = J Jᵀ`` and ``d = Jᵀw`` are not
            counted: the loop forms them), a direction rule's
            `~moo.solvers.DirectionRule.direction`. The torch bridge's
            `moo.torch.StepInfo.rule_time` has the same meaning.
        residual: the rule's optimality certificate at each step, ``(n,)``.
    """

    x: FloatArray
    F: FloatArray
    weights: FloatArray
    direction_norm: FloatArray
    stationarity: FloatArray
    step_size: FloatArray
    rule_time: FloatArray
    residual: FloatArray


@dataclass(frozen=True)
class Result:
    """Outcome of `minimize`.

    Attributes:
        x: final point (d,).
        F: objective values at ``x`` (K,).
        stationarity: Pareto-stationarity measure at ``x`` (see `History`).
        converged: ``True`` when ``reason`` is one of `CONVERGED_REASONS`: the run ended on
            a certificate, not on a budget or a failure.
        reason: why the run stopped, one of `STOP_REASONS`:

            - ``"converged"``: the rule's direction is small, ``||d|| <= tol`` (or
              ``||d|| <= tol · Σ_i |w_i| ||g_i||`` with ``tol_mode="relative"``, see
              `minimize`);
            - ``"stationary"``: the point is Pareto-stationary: the rule raised
              `ParetoStationaryError`, or the line search found no step at a point whose
              Pareto stationarity ``min_{w ∈ Δ} ||J_Fᵀ w||`` is ``<= tol`` (relative:
              ``<= tol · Σ_i w*_i ||g_i||``);
            - ``"rounding floor"``: the line search found no step because the decrease its
              largest trial predicts is within the rounding of the values
              (`StepOutcome.at_rounding_floor`: ``||d||`` is at the floor float64 values
              allow, about ``sqrt(eps · |f|)``, which a ``tol`` below it cannot reach), or
              because ``d`` itself is within the rounding error of ``Jᵀw``;
            - ``"max steps"``: the step budget ran out;
            - ``"line search failed"``: no step passed the line search far from a
              stationary point (a direction that is not a descent direction, for example);
            - ``"diverged"``: a constant step left the region where the objectives are
              finite (the step size is too large for the problem); ``x`` is the last finite
              point;
            - ``"callback"``: the callback asked to stop.
        n_steps: steps taken.
        rule: the rule, as ``repr`` (``method``, its former name, still reads it with a
            `DeprecationWarning`).
        history: the per-iteration record.
        n_value_evaluations: objective-vector evaluations spent.
        n_jacobian_evaluations: Jacobian evaluations spent.
    """

    x: FloatArray
    F: FloatArray
    stationarity: float
    converged: bool
    reason: str
    n_steps: int
    rule: str
    history: History = field(repr=False)
    n_value_evaluations: int = 0
    n_jacobian_evaluations: int = 0

    @property
    def method(self) -> str:
        """Deprecated name of `rule`."""
        warnings.warn(
            "Result.method is deprecated: use Result.rule", DeprecationWarning, stacklevel=2
        )
        return self.rule


Callback = Callable[[int, FloatArray, FloatArray], bool | None]

CONVERGED_REASONS = ("converged", "stationary", "rounding floor")
"""The stop reasons of a converged run (`Result.converged`)."""

STOP_REASONS = (
    *CONVERGED_REASONS,
    "max steps",
    "line search failed",
    "diverged",
    "callback",
)
"""Every stop reason `minimize` can give (`Result.reason`), converged ones first."""

TolMode = Literal["absolute", "relative"]

TOL_MODES: tuple[TolMode, ...] = ("absolute", "relative")
"""The values of `minimize`'s ``tol_mode``."""


def minimize(
    problem: Problem,
    rule: str | UpdateRule = "mgda",
    *,
    x0: ArrayLike | None = None,
    steps: int = 1000,
    tol: float = 1e-6,
    tol_mode: TolMode = "absolute",
    step_size: StepSize | float | None = None,
    rule_options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    callback: Callback | None = None,
    **deprecated: Any,
) -> Result:
    """Minimize all objectives of ``problem`` with an update rule.

    Args:
        problem: the problem.
        rule: a registered rule name (``"mgda"``, ``"linear"``, ...; see
            `available_rules`) or an `UpdateRule`. The rule is `reset` at the start.
        x0: starting point; by default drawn uniformly from the problem's sampling box with
            ``seed``.
        steps: maximum number of steps (>= 0).
        tol: stop (reason ``"converged"``) when the rule's direction ``d`` at ``x`` is
            small: ``||d|| <= tol`` (>= 0) with ``tol_mode="absolute"``; see ``tol_mode``.
            The same bound judges a point where the line search finds no step
            (``"stationary"`` when the Pareto stationarity is within it).
        tol_mode: how ``tol`` is read (one of `TOL_MODES`):

            - ``"absolute"`` (default): ``||d|| <= tol``, in the units of the gradients.
            - ``"relative"``: ``||d|| <= tol · Σ_i |w_i| ||g_i||``, with ``w`` the rule's
              weights and ``g_i`` the gradients at ``x`` (the free ones, on a box): ``d`` is
              small next to the weighted gradients it combines, i.e. they cancel to within
              a fraction ``tol`` (``0 <= tol < 1``: the triangle inequality bounds the
              ratio by 1 for ``d = Jᵀw``). The test does not change when the objectives are
              scaled by a common factor, so a flat region where every gradient is tiny but
              points the same way (Fonseca-Fleming far from its wells) does not count as
              converged, while a point where the gradients cancel does. The
              ``"stationary"`` test reads ``min_{w ∈ Δ} ||Jᵀw|| <= tol · Σ_i w*_i ||g_i||``
              with the minimizing ``w*``. Near a minimizer of one objective (an end of the
              front) its gradient vanishes without cancelling, so there the run ends at
              ``"rounding floor"`` (or at ``"converged"`` once ``d = 0`` exactly). A run
              that is to leave a plateau also needs steps as large as the gradients are
              small: a scale-free direction (``MGDA(normalization="l2")``) or a large
              ``Armijo(initial=...)``.
        step_size: an `StepSize`, a positive float for a constant step, or
            ``None`` for `Armijo` backtracking (default).
        rule_options: hyperparameters for a rule given by name.
        seed: seed for the starting point when ``x0`` is ``None``.
        callback: called as ``callback(step, x, F)`` after every step; returning ``True``
            stops the run (reason ``"callback"``).
        **deprecated: ``method=`` and ``method_options=``, the former names of ``rule`` and
            ``rule_options`` (accepted with a `DeprecationWarning`).

    Returns:
        A `Result` with the final point, values, stationarity and the history.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a moo.problems.Problem, got {problem!r}")
    rule, rule_options = _deprecated_names("minimize", rule, rule_options, deprecated)
    if rule_options is not None and not isinstance(rule_options, Mapping):
        raise TypeError(f"rule_options must be a mapping (or None), got {rule_options!r}")
    rule_obj = get_rule(rule, **dict(rule_options or {}))
    weighting = rule_obj if isinstance(rule_obj, Weighting) else None
    n_steps_max = check_int(steps, "steps", low=0)
    tolerance = check_real(tol, "tol", low=0.0)
    relative = check_choice(tol_mode, "tol_mode", TOL_MODES) == "relative"
    if relative and tolerance >= 1.0:
        raise ValueError(
            f"tol must be < 1 with tol_mode='relative' (||Jᵀw|| <= Σ_i |w_i| ||g_i|| always "
            f"holds, so every run would stop at its start), got {tolerance}"
        )
    stepper = _step_size(step_size)
    if x0 is None:
        x = _draw_start(problem, np.random.default_rng(_seed(seed)))
    else:
        x = problem.check_point(x0, "x0")
    rule_obj.reset()
    stepper.reset()
    values0, jacobians0 = problem.n_value_evaluations, problem.n_jacobian_evaluations

    F = problem.values(x)
    xs, Fs = [x], [F]
    weights, dnorms, stats, sizes, times, residuals = [], [], [], [], [], []
    reason = "max steps"
    for step in range(n_steps_max + 1):
        jac = _free_jacobian(problem, x, problem.jacobian(x))
        with np.errstate(over="ignore", invalid="ignore"):
            gram = jac @ jac.T
        if not np.isfinite(gram).all():
            raise ValueError(
                f"the gradients at step {step} (x0 at step 0) are too large for float64: J Jᵀ "
                f"overflows (max |J| = {np.abs(jac).max():.3g}); rescale the objectives or "
                "start elsewhere"
            )
        stats.append(stationarity(gram))
        try:
            if weighting is not None:
                started = time.perf_counter()
                result = weighting.weights(gram if weighting.uses_gramian else None, F)
                elapsed = time.perf_counter() - started
                direction = jac.T @ result.weights
            else:
                started = time.perf_counter()
                direction, result = rule_obj.direction(jac, F)
                elapsed = time.perf_counter() - started
        except ParetoStationaryError:
            reason = "stationary"
            break
        dnorm = float(np.linalg.norm(direction))
        if dnorm <= tolerance * (_direction_scale(jac, result.weights) if relative else 1.0):
            reason = "converged"
            break
        if step == n_steps_max:
            break
        outcome = stepper.step(problem, x, F, direction, jac, rule_obj, result)
        if not outcome.accepted:
            # judged by the certificate, not by the line search alone
            if outcome.diverged:
                reason = "diverged"
            elif stats[-1] <= tolerance * (_stationarity_scale(gram) if relative else 1.0):
                reason = "stationary"
            elif outcome.at_rounding_floor or dnorm <= _direction_floor(jac, result.weights):
                reason = "rounding floor"
            else:
                reason = "line search failed"
            break
        x, F = outcome.x, outcome.F
        xs.append(x)
        Fs.append(F)
        weights.append(result.weights)
        dnorms.append(dnorm)
        sizes.append(outcome.step_size)
        times.append(elapsed)
        residuals.append(result.residual)
        if callback is not None and callback(step, x, F):
            stats.append(stationarity(_gram(problem, x)))
            reason = "callback"
            break

    k = problem.n_obj
    history = History(
        x=np.asarray(xs),
        F=np.asarray(Fs),
        weights=np.asarray(weights).reshape(-1, k),
        direction_norm=np.asarray(dnorms),
        stationarity=np.asarray(stats),
        step_size=np.asarray(sizes),
        rule_time=np.asarray(times),
        residual=np.asarray(residuals),
    )
    return Result(
        x=x,
        F=F,
        stationarity=float(stats[-1]),
        converged=reason in CONVERGED_REASONS,
        reason=reason,
        n_steps=len(xs) - 1,
        rule=repr(rule_obj),
        history=history,
        n_value_evaluations=problem.n_value_evaluations - values0,
        n_jacobian_evaluations=problem.n_jacobian_evaluations - jacobians0,
    )


def _deprecated_names(
    caller: str,
    rule: str | UpdateRule,
    rule_options: Mapping[str, Any] | None,
    deprecated: Mapping[str, Any],
) -> tuple[str | UpdateRule, Mapping[str, Any] | None]:
    """Map the former keywords ``method`` and ``method_options`` of ``caller`` (a public
    function whose own caller gets the warning) to ``rule`` and ``rule_options``."""
    unknown = sorted(set(deprecated) - {"method", "method_options"})
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword argument(s) {', '.join(unknown)}")
    for old, new in (("method", "rule"), ("method_options", "rule_options")):
        if old not in deprecated:
            continue
        warnings.warn(
            f"{caller}({old}=...) is deprecated: use {new}=...", DeprecationWarning, stacklevel=3
        )
        if old == "method":
            rule = deprecated[old]
        else:
            if rule_options is not None:
                raise TypeError("give rule_options, not both rule_options and method_options")
            rule_options = deprecated[old]
    return rule, rule_options


def _direction_scale(jac: FloatArray, weights: FloatArray) -> float:
    """``Σ_i |w_i| ||g_i||``: the length ``d = Jᵀw`` would have if its weighted gradients did
    not cancel at all (an upper bound on ``||Jᵀw||``, by the triangle inequality)."""
    return float(np.abs(weights) @ np.linalg.norm(jac, axis=1)) if weights.size else 0.0


def _stationarity_scale(gram: FloatArray) -> float:
    """`_direction_scale` of the min-norm weights ``w*``: the scale of the stationarity
    measure ``||Jᵀw*||`` in ``tol_mode="relative"``."""
    weights = min_norm_weights(gram).weights
    return float(weights @ np.sqrt(np.maximum(np.diagonal(gram), 0.0)))


def _direction_floor(jac: FloatArray, weights: FloatArray) -> float:
    """The rounding error of ``d = Jᵀw`` in float64: `ROUNDING_ULPS` units of
    ``eps · Σ_i |w_i| ||g_i||``. A direction this short is rounding noise (its slopes
    ``g_iᵀd`` may even come out negative), so no line search can use it."""
    return ROUNDING_ULPS * float(np.finfo(np.float64).eps) * _direction_scale(jac, weights)


def _step_size(step_size: StepSize | float | None) -> StepSize:
    if step_size is None:
        return Armijo()
    if isinstance(step_size, StepSize):
        return step_size
    if isinstance(step_size, (int, float)) and not isinstance(step_size, bool):
        return ConstantStep(float(step_size))
    raise TypeError(f"step_size must be a StepSize, a positive float or None, got {step_size!r}")


def _seed(seed: int | None) -> int | None:
    return None if seed is None else check_int(seed, "seed", low=0)


def _draw_start(problem: Problem, rng: np.random.Generator) -> FloatArray:
    if problem.sampling_lower is None or problem.sampling_upper is None:
        raise ValueError(
            f"problem {problem.name!r} has no bounds or sampling_bounds to draw a start from: "
            "give x0"
        )
    lo, hi = problem.sampling_lower, problem.sampling_upper
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        j = int(np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))[0])
        raise ValueError(
            f"problem {problem.name!r} cannot draw a start: its sampling box is infinite in "
            f"variable {j} ([{lo[j]}, {hi[j]}]); give x0 or finite sampling_bounds"
        )
    return problem.project(lo + (hi - lo) * rng.random(problem.n_var))


def _gram(problem: Problem, x: FloatArray) -> FloatArray:
    jac = _free_jacobian(problem, x, problem.jacobian(x))
    gram: FloatArray = jac @ jac.T
    return gram


def _free_jacobian(problem: Problem, x: FloatArray, jac: FloatArray) -> FloatArray:
    """Zero the Jacobian columns of variables held at a bound (see the module docstring).

    Active-set loop: start with every variable on a bound fixed; release a fixed variable when
    the min-norm direction over the free ones would move it into the box; stop when stable.
    """
    if problem.lower is None or problem.upper is None:
        return jac
    at_lower = x <= problem.lower
    at_upper = x >= problem.upper
    fixed = at_lower | at_upper
    if not fixed.any():
        return jac
    for _ in range(problem.n_var + 1):
        free_jac = jac * ~fixed
        w = min_norm_weights(free_jac @ free_jac.T).weights
        d = jac.T @ w  # the loop moves along -d
        inward = (at_lower & (d < 0.0)) | (at_upper & (d > 0.0))
        release = fixed & inward
        if not release.any():
            return free_jac
        fixed &= ~release
    return np.asarray(jac * ~fixed, dtype=np.float64)
