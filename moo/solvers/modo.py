"""MoDo: multi-objective gradient with double sampling, λ kept on the simplex as state.

References:
    L. Chen, H. Fernando, Y. Ying and T. Chen, "Three-Way Trade-Off in Multi-Objective
    Learning: Optimization, Generalization and Conflict-Avoidance", NeurIPS 2023.
    Authors' code: https://github.com/heshandevaka/Trade-Off-MOL (``LibMTL/weighting/MoDo.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._simplex import project_simplex, simplex_error
from moo.validation import FloatArray, as_vector, check_jacobian, check_real


def lambda_step(
    lam: FloatArray, cross: FloatArray, gamma: float, rho: float, scale: float
) -> tuple[FloatArray, float]:
    """One projected-gradient step ``λ⁺ = Π_Δ(λ − γ(Cλ + ρλ))`` and its fixed-point gap.

    Shared by `MoDo` (``C = J¹J²ᵀ``, or ``G`` in the deterministic case) and
    `moo.solvers.moco.MoCo` (``C = YYᵀ`` of the tracked gradients).

    The gap is the Frank-Wolfe gap ``λ⁺ᵀv − min_i v_i`` of ``v = Cλ⁺ + ρλ⁺`` divided by
    ``scale`` (``0`` when ``scale <= 0``). It is ``>= 0`` for every ``λ⁺`` on the simplex and
    ``0`` exactly when ``λ⁺`` is a fixed point of the step, i.e. for a symmetric PSD ``C`` when
    ``λ⁺`` minimizes ``½λᵀ(C + ρI)λ`` over the simplex.

    Args:
        lam: current ``λ`` on the simplex (K,).
        cross: ``C`` (K×K), not necessarily symmetric.
        gamma: step ``γ > 0``.
        rho: regularization ``ρ >= 0``.
        scale: positive normalizer of the gap (``max_i ||J¹_i|| ||J²_i|| + ρ``).

    Returns:
        ``(λ⁺, gap)``.
    """
    new = project_simplex(lam - gamma * (cross @ lam + rho * lam))
    v = cross @ new + rho * new
    gap = float(new @ v - v.min())
    return new, (max(gap, 0.0) / scale if scale > 0.0 else 0.0)


def check_lambda_state(value: Any, key: str) -> FloatArray:
    """Validate a stored ``λ``: a finite 1-D array on the simplex (errors name ``key``)."""
    lam = as_vector(value, f"state[{key!r}]")
    if lam.size == 0:
        raise ValueError(f"state[{key!r}] must hold at least one weight, got an empty array")
    problem = simplex_error(lam)
    if problem is not None:
        raise ValueError(f"state[{key!r}] must lie on the simplex: {problem}")
    out: FloatArray = lam.copy()  # as_vector may return the caller's array itself
    return out


def check_state_keys(state: Mapping[str, Any], expected: set[str], rule: str) -> None:
    """Raise ``ValueError`` naming missing or unknown keys of a state dict."""
    keys = set(state)
    if keys != expected:
        missing, unknown = sorted(expected - keys), sorted(keys - expected)
        raise ValueError(
            f"rule {rule!r} expects state keys {sorted(expected)}; "
            f"missing {missing}, unknown {unknown}"
        )


@register
class MoDo(Weighting):
    r"""MoDo: stochastic MGDA with double sampling; one projected-gradient step on ``λ`` per call.

    Math: with two independent stochastic Jacobians ``J¹, J²`` (K×d) of the same point,

        λ ← Π_Δ(λ − γ(J¹J²ᵀλ + ρλ)),        d = (J¹ + J²)ᵀλ / 2,

    with ``λ`` updated first and the new ``λ`` used in ``d`` (step along ``-d``). Because the
    samples are independent, ``J¹J²ᵀλ`` is an unbiased estimate of ``∇F ∇Fᵀλ``, the gradient
    of ``½||∇Fᵀλ||²``: ``λ`` runs stochastic projected gradient descent on MGDA's min-norm
    problem (regularized by ``ρ/2 ||λ||²``) while ``x`` moves, instead of solving it exactly
    at every step. ``λ`` starts uniform.

    Deterministic case: with a single exact Jacobian both samples coincide,
    ``J¹ = J² = J``, and the step needs only the Gramian ``G = J Jᵀ``; so this is a Gramian rule
    (``weights(G, losses)``, ``from_jacobian(J, losses)``, ``direction = Jᵀλ``), usable from the
    minimize loop and the torch bridge. True double sampling needs two Jacobian draws per step,
    which the minimize loop does not make (it evaluates one Jacobian per step): pass them to
    `from_jacobians` or `direction_from_jacobians`.

    Fixed points (deterministic): the coupled iteration rests where ``λ`` is a fixed point of
    its step and ``Jᵀλ = 0``. With ``ρ > 0`` that forces ``λ`` uniform, so runs end at
    stationary points of the mean objective ``(1/K) Σ f_i`` (which are Pareto-stationary); with
    ``ρ = 0`` any Pareto-stationary point can be an end point and ``λ`` tends to MGDA's
    min-norm weights there.

    Scale: the weights are ``λ`` on the simplex. ``γ`` multiplies ``J¹J²ᵀ``, so its useful
    range depends on the squared gradient norms (``γ · max_i ||g_i||² ≲ 1`` keeps the step
    stable); the same holds for ``ρ``.

    Residual: the fixed-point gap of the ``λ`` step (see `lambda_step`), scaled by
    ``max_i ||J¹_i|| ||J²_i|| + ρ``; ``0`` when ``λ`` solves the regularized min-norm problem
    of the current Gramian. ``info["objective"]`` is ``λᵀJ¹J²ᵀλ`` (``||d||²`` in the
    deterministic case).

    State: ``λ`` (`state_dict` ``{"lambda": list or None}``; ``None`` before the first call,
    when ``λ`` is uniform). `reset` forgets it. A call with a different number of objectives
    than the stored ``λ`` raises ``ValueError``.

    Args:
        gamma: step ``γ > 0`` of the ``λ`` update (default 0.1).
        rho: regularization ``ρ >= 0`` of the ``λ`` subproblem (default 0.1).

    Defaults are those of the authors' code (``gamma_modo = rho_modo = 0.1`` in
    ``LibMTL/config.py`` of Trade-Off-MOL; its toy scripts use ``rho = 0``).

    References: Chen, Fernando, Ying & Chen, NeurIPS 2023.
    """

    name = "modo"
    summary = "stochastic MGDA with double sampling: one projected-gradient step on λ per call"
    stateful = True

    def __init__(self, gamma: float = 0.1, rho: float = 0.1) -> None:
        self._gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        self._rho = check_real(rho, "rho", low=0.0)
        self._lambda: FloatArray | None = None

    def _current(self, k: int) -> FloatArray:
        if self._lambda is None:
            return np.full(k, 1.0 / k)
        if self._lambda.size != k:
            raise ValueError(
                f"rule {self.name!r} holds lambda for {self._lambda.size} objectives, got {k}; "
                "call reset() to start a new run"
            )
        return self._lambda

    def _step(self, cross: FloatArray, scale: float) -> RuleResult:
        new, gap = lambda_step(self._current(cross.shape[0]), cross, self._gamma, self._rho, scale)
        self._lambda = new
        return RuleResult(new.copy(), gap, {"objective": float(new @ cross @ new)})

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        return self._step(gramian, float(gramian.diagonal().max()) + self._rho)

    def from_jacobians(
        self, jacobian1: ArrayLike, jacobian2: ArrayLike, losses: ArrayLike
    ) -> RuleResult:
        """One MoDo step from two independent Jacobian samples ``J¹, J²`` (both K×d).

        Updates ``λ`` with ``J¹J²ᵀ`` and returns it as the weights; the direction is
        ``d = (J¹ + J²)ᵀλ / 2`` (see `direction_from_jacobians`). With ``J¹ = J²`` it is the
        same step as `from_jacobian`.
        """
        f = as_vector(losses, "losses")
        if f.size == 0:
            raise ValueError("losses must hold at least one objective, got an empty array")
        j1 = check_jacobian(jacobian1, f.size, name="jacobian1")
        j2 = check_jacobian(jacobian2, f.size, j1.shape[1], name="jacobian2")
        norms = np.sqrt(np.einsum("ij,ij->i", j1, j1) * np.einsum("ij,ij->i", j2, j2))
        return self._step(j1 @ j2.T, float(norms.max()) + self._rho)

    def direction_from_jacobians(
        self, jacobian1: ArrayLike, jacobian2: ArrayLike, losses: ArrayLike
    ) -> tuple[FloatArray, RuleResult]:
        """The direction ``d = (J¹ + J²)ᵀλ / 2`` (step along ``-d``) and the result of
        `from_jacobians`."""
        result = self.from_jacobians(jacobian1, jacobian2, losses)
        j1 = np.asarray(jacobian1, dtype=np.float64)
        j2 = np.asarray(jacobian2, dtype=np.float64)
        direction: FloatArray = 0.5 * ((j1 + j2).T @ result.weights)
        return direction, result

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """``λ`` on the simplex."""
        return simplex_error(weights)

    def reset(self) -> None:
        """Restore the initial ``λ`` (uniform, set at the next call)."""
        self._lambda = None

    def state_dict(self) -> dict[str, Any]:
        """``{"lambda": λ as a list of floats, or None before the first call}`` (plain Python:
        exact, and loadable with ``torch.load(weights_only=True)``)."""
        return {"lambda": None if self._lambda is None else self._lambda.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict`; ``λ`` must be a finite 1-D list or array on the simplex, or
        ``None``."""
        check_state_keys(state, {"lambda"}, self.name)
        value = state["lambda"]
        self._lambda = None if value is None else check_lambda_state(value, "lambda")
