"""Step-size rules for the minimize loop: a constant step and Armijo backtracking.

A step-size rule receives the current point, the update direction ``d`` (the loop moves along
``-d``), the Jacobian, the rule and its result, and returns the accepted next point. Projection
onto the problem's box bounds is part of the trial point ``x⁺ = P(x − t d)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

from moo.problems import Problem
from moo.solvers import RuleResult, UpdateRule
from moo.validation import (
    FloatArray,
    NonFiniteValueError,
    check_choice,
    check_int,
    check_real,
)

Condition = Literal["auto", "all", "merit", "weighted"]


ROUNDING_ULPS = 16.0
"""How many units in the last place of the compared values a step's predicted decrease must
exceed to be measurable (see `StepOutcome.at_rounding_floor`): evaluating an objective rounds,
typically by a few ulps of its value."""


@dataclass(frozen=True)
class StepOutcome:
    """The outcome of a step: next point, its objective values, the step size ``t`` and whether
    a step was accepted (when not, ``x`` and ``F`` are the current ones and ``t = 0``).

    ``at_rounding_floor`` (rejected steps only): the decrease that the largest step the line
    search may try predicts to first order, ``t₀ · s`` with ``s`` the slope of the tested
    quantity along ``-d``, is positive but at most `ROUNDING_ULPS` units in the last place of
    the values it is compared with. No step can then show a decrease that rounding does not
    swamp: the run has reached the floor that float64 values put on the direction (about
    ``sqrt(ulps · eps · |f| / t₀)``), not a failure of the rule.

    ``diverged`` (rejected steps only): the step left the region where the objectives are
    finite (a `ConstantStep` too large for the problem, for example); the minimize loop stops
    with reason ``"diverged"``.
    """

    x: FloatArray
    F: FloatArray
    step_size: float
    accepted: bool
    at_rounding_floor: bool = False
    diverged: bool = False


class StepSize(ABC):
    """How far to move along ``-d``."""

    def reset(self) -> None:  # noqa: B027 (a no-op by default: stateless step sizes keep it)
        """Forget state kept between steps (called at the start of every run)."""

    @abstractmethod
    def step(
        self,
        problem: Problem,
        x: FloatArray,
        F: FloatArray,
        direction: FloatArray,
        jacobian: FloatArray,
        rule: UpdateRule,
        result: RuleResult,
    ) -> StepOutcome:
        """Return the next point from ``x`` along ``-direction``."""


class ConstantStep(StepSize):
    """A fixed step: ``x⁺ = P(x − t d)``.

    Args:
        size: the step ``t > 0``.
    """

    def __init__(self, size: float) -> None:
        self.size = check_real(size, "step size", low=0.0, low_open=True)

    def step(
        self,
        problem: Problem,
        x: FloatArray,
        F: FloatArray,
        direction: FloatArray,
        jacobian: FloatArray,
        rule: UpdateRule,
        result: RuleResult,
    ) -> StepOutcome:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: a divergence, below
            x_new = problem.project(x - self.size * direction)
        F_new = _finite_values(problem, x_new)
        if F_new is None:
            return StepOutcome(x, F, 0.0, False, diverged=True)
        return StepOutcome(x_new, F_new, self.size, True)

    def __repr__(self) -> str:
        return f"ConstantStep({self.size})"


class Armijo(StepSize):
    r"""Armijo backtracking: try ``t = t₀, βt₀, β²t₀, ...`` until sufficient decrease.

    With the trial point ``x⁺ = P(x − t d)`` and the displacement ``p = x − x⁺`` the test is

    - ``condition="all"`` (multi-objective Armijo of Fliege & Svaiter, 2000): every objective
      decreases enough, ``f_i(x⁺) <= f_i(x) − σ min_j g_jᵀ p`` for all ``i``. For MGDA
      ``min_j g_jᵀ d = ||d||²``, so each accepted step decreases *every* objective.
    - ``condition="merit"``: the rule's merit function decreases enough,
      ``m(f(x⁺)) <= m(f(x)) − σ dᵀp``, for rules whose direction is the gradient of a merit
      ``m(f(x))`` of the loss values (`UpdateRule.merit`, e.g. MIMO's smoothed penalty).
    - ``condition="weighted"``: the weighted sum decreases enough,
      ``wᵀf(x⁺) <= wᵀf(x) − σ (Jᵀw)ᵀp``; always satisfiable for small ``t`` when
      ``d = Jᵀw``, the gradient of ``wᵀf`` (with ``w`` frozen), and whenever ``(Jᵀw)ᵀd > 0``
      (rules whose direction uses tracked gradients, such as MoCo). With weights that change
      with the losses a run may then cycle; rules with a merit avoid it.
    - ``condition="auto"`` (default): ``"all"`` for rules whose direction is a common descent
      direction (MGDA), ``"merit"`` for rules with a merit function, ``"weighted"``
      otherwise.

    The first trial of each step is ``min(initial, growth · t_previous)`` so a run does not
    re-discover a small step size every iteration. A trial passes only if the tested quantity
    also decreases strictly: the right-hand side ``f − σ · decrease`` rounds to ``f`` once the
    predicted decrease is below about ``ulp(f) / σ``, and a step that changes no value would
    pass the test and move without progress. When no trial passes after ``max_backtracks``
    halvings the step is rejected; the outcome says whether the predicted decrease was below
    the rounding of the values (`StepOutcome.at_rounding_floor`), and the minimize loop stops
    with reason ``"stationary"``, ``"rounding floor"`` or ``"line search failed"`` (see
    `moo.minimize`).

    Args:
        initial: largest trial step ``t₀ > 0`` (default 1).
        shrink: factor ``β ∈ (0, 1)`` (default 0.5).
        sigma: sufficient-decrease constant ``σ ∈ (0, 1)`` (default 1e-4).
        growth: factor ``>= 1`` applied to the previous accepted step for the first trial
            (default 2).
        max_backtracks: trials per step (default 50).
        condition: ``"auto"``, ``"all"``, ``"merit"`` or ``"weighted"``.
    """

    def __init__(
        self,
        initial: float = 1.0,
        shrink: float = 0.5,
        sigma: float = 1e-4,
        growth: float = 2.0,
        max_backtracks: int = 50,
        condition: Condition = "auto",
    ) -> None:
        self.initial = check_real(initial, "initial", low=0.0, low_open=True)
        self.shrink = check_real(shrink, "shrink", low=0.0, high=1.0, low_open=True, high_open=True)
        self.sigma = check_real(sigma, "sigma", low=0.0, high=1.0, low_open=True, high_open=True)
        self.growth = check_real(growth, "growth", low=1.0)
        self.max_backtracks = check_int(max_backtracks, "max_backtracks", low=1)
        self.condition: Condition = check_choice(  # type: ignore[assignment]
            condition, "condition", ("auto", "all", "merit", "weighted")
        )
        self._previous = self.initial

    def reset(self) -> None:
        self._previous = self.initial

    def step(
        self,
        problem: Problem,
        x: FloatArray,
        F: FloatArray,
        direction: FloatArray,
        jacobian: FloatArray,
        rule: UpdateRule,
        result: RuleResult,
    ) -> StepOutcome:
        test = self._test(rule, F)
        merit_now = rule.merit(F) if test == "merit" else None
        t = min(self.initial, self.growth * self._previous)
        for _ in range(self.max_backtracks):
            x_new = problem.project(x - t * direction)
            p = x - x_new
            F_new = _finite_values(problem, x_new) if np.any(p != 0.0) else None
            if F_new is not None:  # a trial where the objectives are not finite: backtrack
                if test == "all":
                    decrease = float(np.min(jacobian @ p))
                    ok = bool(np.all(F_new <= F - self.sigma * decrease) and np.any(F_new < F))
                elif merit_now is not None:
                    decrease = float(direction @ p)
                    after = rule.merit(F_new)
                    assert after is not None
                    ok = after <= merit_now - self.sigma * decrease and after < merit_now
                else:
                    # directional derivative of wᵀf along the displacement: (Jᵀw)ᵀp, which is
                    # dᵀp when d = Jᵀw (rules with tracked gradients, such as MoCo, differ)
                    w = result.weights
                    decrease = float((jacobian.T @ w) @ p)
                    before, after = float(w @ F), float(w @ F_new)
                    ok = after <= before - self.sigma * decrease and after < before
                if ok and decrease > 0.0:
                    self._previous = t
                    return StepOutcome(x_new, F_new, t, True)
            t *= self.shrink
        # rejected: the slope of the tested quantity along -d and the size of the values it is
        # compared to
        if test == "all":
            slope, scale = float(np.min(jacobian @ direction)), float(np.max(np.abs(F)))
        elif merit_now is not None:
            slope, scale = float(direction @ direction), abs(merit_now)
        else:
            slope = float((jacobian.T @ result.weights) @ direction)
            scale = float(np.abs(result.weights) @ np.abs(F))
        floor = (
            0.0 < self.initial * slope <= ROUNDING_ULPS * float(np.finfo(np.float64).eps) * scale
        )
        return StepOutcome(x, F, 0.0, False, at_rounding_floor=floor)

    def _test(self, rule: UpdateRule, F: FloatArray) -> str:
        if self.condition != "auto":
            if self.condition == "merit" and rule.merit(F) is None:
                raise ValueError(f"condition='merit' but rule {rule.name!r} has no merit function")
            return self.condition
        if rule.common_descent:
            return "all"
        return "merit" if rule.merit(F) is not None else "weighted"

    def __repr__(self) -> str:
        return (
            f"Armijo(initial={self.initial}, shrink={self.shrink}, sigma={self.sigma}, "
            f"condition={self.condition!r})"
        )


def _finite_values(problem: Problem, x: FloatArray) -> FloatArray | None:
    """The objective values at ``x``, or ``None`` when ``x`` or the values are not finite."""
    if not np.all(np.isfinite(x)):
        return None
    try:
        return problem.values(x)
    except (NonFiniteValueError, OverflowError):  # Python float arithmetic overflows
        return None
