"""MoCo: stochastic multi-objective gradient correction with tracked gradients.

References:
    H. Fernando, H. Shen, M. Liu, S. Chaudhury, K. Murugesan and T. Chen, "Mitigating Gradient
    Bias in Multi-objective Learning: A Provably Convergent Approach", ICLR 2023.
    Authors' code: https://github.com/heshandevaka/MoCo and
    https://github.com/heshandevaka/Trade-Off-MOL (``LibMTL/weighting/MoCo.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.solvers._base import DirectionRule, RuleResult, register
from moo.solvers._simplex import simplex_error
from moo.solvers.modo import check_lambda_state, check_state_keys, lambda_step
from moo.validation import FloatArray, check_real


@register
class MoCo(DirectionRule):
    r"""MoCo: tracked gradients ``Y`` and a projected-gradient step on ``λ`` per call.

    Math: with the (stochastic) Jacobian ``J`` (K×d) of the current step,

        Y ← Y − β(Y − J),        λ ← Π_Δ(λ − γ(YYᵀλ + ρλ)),        d = Yᵀλ,

    in that order (step along ``-d``). ``Y`` is a running average of the gradients that
    corrects the bias of plugging one noisy ``J`` into MGDA's min-norm problem; ``λ`` runs
    projected gradient descent on ``½||Yᵀλ||² + ρ/2 ||λ||²`` while ``x`` moves. At the first
    call after construction or `reset`, ``Y = J`` and ``λ`` is uniform before the step.

    The direction is ``d = Yᵀλ``, **not** ``Jᵀw`` for any ``w`` in general (``Y`` lags behind
    ``J``). So this rule is a `DirectionRule`: its one entry point `direction` returns
    ``Yᵀλ`` and a result whose weights are the new ``λ`` (``d`` is also in
    ``info["direction"]``). ``Jᵀλ`` equals ``d`` only when ``Y = J`` (the first call, or
    ``beta=1``). It reads the Jacobian because ``Y`` is d-dimensional.

    Fixed points (deterministic ``J``): ``Y → J`` when ``x`` settles, and the iteration rests
    where ``Jᵀλ = 0`` with ``λ`` a fixed point of its step. With ``ρ > 0`` this forces ``λ``
    uniform, so runs end at stationary points of the mean objective ``(1/K) Σ f_i`` (which
    are Pareto-stationary); with ``ρ = 0`` any Pareto-stationary point can be an end point
    and ``λ`` tends to MGDA's min-norm weights there.

    Scale: the weights are ``λ`` on the simplex. ``γ`` multiplies ``YYᵀ``, so its useful range
    depends on the squared gradient norms (``γ · max_i ||y_i||² ≲ 1`` keeps the step
    stable); the same holds for ``ρ``.

    Residual: the fixed-point gap of the ``λ`` step on ``YYᵀ`` (see
    `moo.solvers.modo.lambda_step`), scaled by ``max_i ||y_i||² + ρ``. ``info`` holds
    ``"objective"`` (``||d||²``), ``"tracking_gap"`` (``||Y − J||_F`` after the update) and
    ``"direction"`` (``d = Yᵀλ``).

    State: ``λ`` and ``Y`` (`state_dict` ``{"lambda": list, "tracked": list of lists}``, both
    ``None`` before the first call). `reset` forgets both. A call whose Jacobian shape differs
    from the stored state raises ``ValueError``.

    Args:
        beta: tracking step ``β ∈ (0, 1]`` (default 0.1; ``1`` means ``Y = J``, no tracking).
        gamma: step ``γ > 0`` of the ``λ`` update (default 0.1).
        rho: regularization ``ρ >= 0`` of the ``λ`` subproblem (default 0.1).

    Defaults are those of the authors' code (``beta_moco = gamma_moco = rho_moco = 0.1`` in
    ``LibMTL/config.py`` of Trade-Off-MOL). That code starts from ``Y = 0`` (so its first
    ``Y`` is ``βJ``); this rule starts from ``Y = J``.

    References: Fernando, Shen, Liu, Chaudhury, Murugesan & Chen, ICLR 2023.
    """

    name = "moco"
    summary = "stochastic MGDA with tracked gradients Y and one projected-gradient step on λ"
    stateful = True

    def __init__(self, beta: float = 0.1, gamma: float = 0.1, rho: float = 0.1) -> None:
        self._beta = check_real(beta, "beta", low=0.0, high=1.0, low_open=True)
        self._gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        self._rho = check_real(rho, "rho", low=0.0)
        self._lambda: FloatArray | None = None
        self._tracked: FloatArray | None = None

    def from_jacobian(self, jacobian: ArrayLike, losses: ArrayLike) -> RuleResult:
        """Deprecated: use ``direction(J, losses)[1]`` (the same step; MoCo is a
        `DirectionRule` with the one entry point `direction`)."""
        warnings.warn(
            "MoCo.from_jacobian is deprecated: MoCo is a DirectionRule, call "
            "direction(jacobian, losses), whose second item is this result",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.direction(jacobian, losses)[1]

    def _direction(self, jacobian: FloatArray, losses: FloatArray) -> tuple[FloatArray, RuleResult]:
        """One MoCo step: the direction ``d = Yᵀλ`` (step along ``-d``) and the result with
        the new ``λ`` as the weights."""
        j = jacobian
        k = j.shape[0]
        if self._lambda is None or self._tracked is None:
            lam = np.full(k, 1.0 / k)
            tracked = j.copy()
        else:
            if self._tracked.shape != j.shape:
                raise ValueError(
                    f"rule {self.name!r} tracks gradients of shape {self._tracked.shape}, got a "
                    f"jacobian of shape {j.shape}; call reset() to start a new run"
                )
            lam = self._lambda
            tracked = (1.0 - self._beta) * self._tracked + self._beta * j
        gram = tracked @ tracked.T
        new, gap = lambda_step(
            lam, gram, self._gamma, self._rho, float(gram.diagonal().max()) + self._rho
        )
        direction: FloatArray = tracked.T @ new
        self._lambda, self._tracked = new, tracked
        info = {
            "objective": float(direction @ direction),
            "tracking_gap": float(np.linalg.norm(tracked - j)),
            "direction": direction,
        }
        return direction, RuleResult(new.copy(), gap, info)

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """``λ`` on the simplex."""
        return simplex_error(weights)

    def reset(self) -> None:
        """Forget ``Y`` and restore the initial ``λ`` (uniform, set at the next call)."""
        self._lambda = None
        self._tracked = None

    def state_dict(self) -> dict[str, Any]:
        """``{"lambda": λ, "tracked": Y}`` as plain Python lists of floats (``Y`` one list per
        objective; exact, and loadable with ``torch.load(weights_only=True)``), both ``None``
        before the first call."""
        return {
            "lambda": None if self._lambda is None else self._lambda.tolist(),
            "tracked": None if self._tracked is None else self._tracked.tolist(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict`: both ``None``, or ``λ`` on the simplex (K,) and a finite
        ``Y`` of shape (K, d), as lists or arrays."""
        check_state_keys(state, {"lambda", "tracked"}, self.name)
        lam_value, tracked_value = state["lambda"], state["tracked"]
        if lam_value is None and tracked_value is None:
            self._lambda = self._tracked = None
            return
        if lam_value is None or tracked_value is None:
            raise ValueError(
                "state['lambda'] and state['tracked'] must both be None or both be arrays, "
                f"got lambda={'None' if lam_value is None else 'an array'} and "
                f"tracked={'None' if tracked_value is None else 'an array'}"
            )
        lam = check_lambda_state(lam_value, "lambda")
        tracked = np.array(tracked_value, dtype=np.float64)
        if tracked.ndim != 2 or tracked.shape[0] != lam.size or tracked.shape[1] == 0:
            raise ValueError(
                f"state['tracked'] must have shape ({lam.size}, d) with d >= 1 to match "
                f"state['lambda'], got shape {tracked.shape}"
            )
        if not np.all(np.isfinite(tracked)):
            raise ValueError("state['tracked'] must be finite")
        self._lambda, self._tracked = lam, tracked
