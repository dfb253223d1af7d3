"""Nash-MTL: the Nash bargaining solution of the objectives, by damped Newton on the Gramian.

References:
    A. Navon, A. Shamsian, I. Achituve, H. Maron, K. Kawaguchi, G. Chechik and E. Fetaya,
    "Multi-Task Learning as a Bargaining Game", ICML 2022 (PMLR 162); reference code:
    github.com/AvivNavon/nash-mtl, ``methods/weight_methods.py``, class ``NashMTL``.
    Y. Nesterov and A. Nemirovskii, "Interior-Point Polynomial Algorithms in Convex
    Programming", SIAM 1994 (self-concordant functions, damped Newton).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, NamedTuple

import numpy as np

from moo.solvers._base import ParetoStationaryError, RuleResult, Weighting, register
from moo.solvers._min_norm import min_norm_weights
from moo.validation import FloatArray, check_choice, check_int, check_real, require

Backend = Literal["newton", "cvxpy"]
OnStationary = Literal["raise", "stop", "keep"]
BACKENDS: tuple[str, ...] = ("newton", "cvxpy")
ON_STATIONARY: tuple[str, ...] = ("raise", "stop", "keep")

# The policy of a rule built without on_stationary (None): "raise", except inside
# `stationary_policy` (moo.torch.backward sets "keep" around the rule's call).
_DEFAULT_POLICY: ContextVar[OnStationary] = ContextVar("nash_mtl_on_stationary", default="raise")


@contextmanager
def stationary_policy(policy: OnStationary) -> Iterator[None]:
    """Within the block, a `NashMTL` built without ``on_stationary`` uses ``policy``.

    `moo.torch.backward` calls the rule inside ``stationary_policy("keep")``: in a training
    loop an objective whose gradient is exactly zero in a batch (a dead ReLU, a masked task)
    must not abort the run, so the step keeps the previous weights, as the reference
    implementation does. Outside (``moo.minimize``, direct calls) the default is ``"raise"``.
    A rule given ``on_stationary`` explicitly is not affected.
    """
    check_choice(policy, "policy", ON_STATIONARY)
    token = _DEFAULT_POLICY.set(policy)
    try:
        yield
    finally:
        _DEFAULT_POLICY.reset(token)


# Smallest stationary_tol: the normalized stationarity is computed from the Gramian to about
# 1e-8 (up to 1.4e-8 measured at exactly stationary points), so a smaller tolerance could miss
# them.
MIN_STATIONARY_TOL = 1e-7
# Newton iterations at most (the damped phase takes O(log(1 / stationarity)) of them).
MAX_NEWTON_ITERATIONS = 100
# After this many Newton iterations without convergence, the exact stationarity is computed
# once, so that a problem without a solution (where Newton diverges) stops early.
_CHECK_AFTER = 20
# Damped steps while the Newton decrement exceeds this (the classical self-concordant bound).
_DAMPED = 0.25
# Newton decrement below which the next iterate is exact up to rounding (error ~ λ²).
_EXACT = 1e-8
# A Newton result is accepted when its certificate is below this (then α > 0, g_iᵀd > 0 and
# every α_i is within a relative r / (1 - r) of the solution).
_ACCEPT = 0.5


class NashSolution(NamedTuple):
    """Result of `nash_weights`.

    Attributes:
        weights: ``α`` (K,), positive, solving ``Gα = 1/α`` up to ``residual``.
        residual: the scale-free certificate ``||α ∘ (Gα) − 1||₂`` (see `nash_residual`).
        iterations: Newton iterations.
    """

    weights: FloatArray
    residual: float
    iterations: int


def nash_residual(gramian: FloatArray, alpha: FloatArray) -> float:
    """Scale-free certificate of ``α`` for the Nash-MTL equation ``Gα = 1/α``.

    It is ``r = ||α ∘ (Gα) − 1||₂``, the residual ``Gα − 1/α`` measured relative to ``1/α``
    component by component: ``(Gα)_i = g_iᵀd`` (with ``d = Jᵀα``) must equal ``1/α_i``. It is
    invariant under ``G → cG, α → α/√c``, ``0`` exactly at the solution, and when ``r < 1``:

    - every ``g_iᵀd = (1 + ρ_i)/α_i > 0`` (``|ρ_i| <= r``): ``d`` is a common descent direction;
    - ``max_i |α_i − α*_i| / α_i <= r / (1 − r)`` (self-concordance of the log-barrier
      objective: its Newton decrement is at most ``r``);
    - ``||d||² = K + Σ ρ_i`` is within ``√K r`` of ``K``.

    Non-positive or non-finite weights give ``inf``.
    """
    if not (np.all(alpha > 0.0) and np.all(np.isfinite(alpha))):
        return math.inf
    res = alpha * (gramian @ alpha) - 1.0
    return float(math.sqrt(float(res @ res)))


def normalized_stationarity(gramian: FloatArray) -> tuple[float, FloatArray]:
    """``(m, w*)``: the min-norm point of the unit-normalized gradients, exactly (Wolfe).

    ``m = min_{w ∈ Δ} ||Σ_i w_i g_i / ||g_i|| ||`` (from the cosine matrix
    ``G_ij / √(G_ii G_jj)``) is in ``[0, 1]``, invariant under a rescaling of each objective,
    and ``0`` exactly at Pareto-stationary points; a zero gradient gives ``m = 0`` with ``w*``
    on the zero rows. ``G`` must be a validated Gramian.
    """
    diag = gramian.diagonal()
    zero = diag <= 0.0
    if zero.any():
        return 0.0, zero / float(zero.sum())
    norms = np.sqrt(diag)
    sol = min_norm_weights(gramian / np.outer(norms, norms))
    return math.sqrt(sol.value), sol.weights


def _stationary_error(gramian: FloatArray, tol: float) -> ParetoStationaryError | None:
    """The error to raise when the point is Pareto-stationary to ``tol``, else ``None``."""
    m, w = normalized_stationarity(gramian)
    if m > tol:
        return None
    support = np.flatnonzero(w > 0.0)
    names = ", ".join(str(i) for i in support)
    if float(gramian.diagonal().min()) <= 0.0:
        why = f"the gradient of objective(s) [{names}] is zero"
    else:
        why = (
            f"a convex combination of the normalized gradients g_i/||g_i|| of objectives "
            f"[{names}] (weights {np.round(w[support], 6).tolist()}) has norm {m:.3g} <= "
            f"stationary_tol = {tol:g}"
        )
    return ParetoStationaryError(
        "Nash-MTL: the bargaining problem G α = 1/α has no solution: the point is "
        f"Pareto-stationary (to tolerance): {why}",
        m,
        w,
    )


def _newton(
    gramian: FloatArray, cos: FloatArray, beta: FloatArray, max_iter: int, tol: float
) -> NashSolution:
    """Damped Newton on ``φ(β) = ½βᵀCβ − Σ log β_i`` for the cosine matrix ``C``.

    Returns the best iterate; raises `ParetoStationaryError` when a check after
    ``_CHECK_AFTER`` unconverged iterations finds the point stationary to ``tol``.
    """
    k = cos.shape[0]
    diag = np.arange(k) * (k + 1)
    best_b, best_r = beta, math.inf
    lam = math.inf
    floor = 4.0 * k * np.finfo(np.float64).eps  # the certificate's own rounding level
    stall = 0
    iterations = 0
    while True:
        inv = 1.0 / beta
        grad = cos @ beta - inv  # ∇φ(β) = Cβ − 1/β
        rv = beta * grad  # β ∘ (Cβ) − 1: the certificate's vector
        r = math.sqrt(float(rv @ rv))
        if r < 0.5 * best_r:
            stall = 0
        elif lam <= _DAMPED:
            stall += 1  # a full Newton step that no longer halves the residual: rounding floor
        if r < best_r:
            best_b, best_r = beta, r
        if best_r <= floor or lam <= _EXACT or stall >= 2 or iterations >= max_iter:
            break
        if iterations == _CHECK_AFTER and best_r >= _ACCEPT:
            error = _stationary_error(gramian, tol)
            if error is not None:
                raise error
        hess = cos.copy()
        hess.flat[diag] += inv * inv  # ∇²φ(β) = C + diag(1/β²)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        lam = math.sqrt(max(float(grad @ step), 0.0))  # Newton decrement
        new = beta - step * (1.0 / (1.0 + lam)) if lam > _DAMPED else beta - step
        iterations += 1
        if not (math.isfinite(lam) and float(new.min()) > 0.0):
            break  # only through rounding: the damped step stays in the Dikin ellipsoid
        beta = new
    return NashSolution(best_b, best_r, iterations)


def nash_weights(
    gramian: FloatArray, start: FloatArray | None = None, *, stationary_tol: float = 1e-6
) -> NashSolution:
    """Solve ``Gα = 1/α``, ``α > 0`` by damped Newton (see `NashMTL`).

    ``G`` must be a validated symmetric PSD float64 matrix. The problem is solved for the
    cosine matrix ``C = N⁻¹GN⁻¹`` (``N = diag(||g_i||)``): ``Cβ = 1/β`` and ``α = N⁻¹β``.
    ``start`` (positive, length K) is a warm start for ``α``, rescaled along its ray to the
    best ``t·start``; without it the start is the best ``t·1`` for ``β`` (exact for K <= 2).

    Raises:
        ParetoStationaryError: some gradient is zero or the normalized stationarity
            (`normalized_stationarity`) is ``<= stationary_tol``.
        RuntimeError: Newton failed to reach a certificate below 0.5 (not observed; it would
            need gradients so nearly dependent that rounding dominates).
    """
    k = gramian.shape[0]
    diag = gramian.diagonal()
    if float(diag.min()) <= 0.0:  # a zero gradient: 0 is in the hull
        error = _stationary_error(gramian, stationary_tol)
        assert error is not None
        raise error
    norms = np.sqrt(diag)
    cos = gramian / np.outer(norms, norms)
    cos.flat[:: k + 1] = 1.0
    if start is not None and start.shape == (k,) and float(start.min()) > 0.0:
        v = start * norms
    else:
        v = np.ones(k)
    quad = float(v @ cos @ v)
    if not quad > 0.0:  # v > 0 is a null direction of G (up to rounding): 0 is in the hull
        error = _stationary_error(gramian, stationary_tol)
        if error is not None:
            raise error
        quad = float(k)  # not stationary after all: start from v itself
    sol = _newton(gramian, cos, v * math.sqrt(k / quad), MAX_NEWTON_ITERATIONS, stationary_tol)
    beta = sol.weights
    r = sol.residual
    if r < _ACCEPT:
        # The normalized stationarity is >= (1 - r) / (max β · ||Σ β_i g_i/||g_i|| ||), as
        # g_iᵀd / ||g_i|| = (1 + ρ_i) / β_i: when that bound clears the tolerance, the point
        # is not stationary and the exact (Wolfe) check is skipped.
        lower = (1.0 - r) / (float(beta.max()) * math.sqrt(k + math.sqrt(k) * r))
        if lower <= stationary_tol:
            error = _stationary_error(gramian, stationary_tol)
            if error is not None:
                raise error
        return NashSolution(beta / norms, r, sol.iterations)
    error = _stationary_error(gramian, stationary_tol)
    if error is not None:
        raise error
    m, _ = normalized_stationarity(gramian)
    raise RuntimeError(
        f"Nash-MTL: Newton did not converge in {sol.iterations} iterations (certificate "
        f"{r:.3g}); the normalized gradients are nearly dependent (stationarity {m:.3g}): "
        "raise stationary_tol to treat such points as Pareto-stationary"
    )


@register
class NashMTL(Weighting):
    r"""Nash-MTL: the Nash bargaining solution of the objectives (Navon et al., ICML 2022).

    Math: with gradients ``g_i`` (rows of ``J``) and Gramian ``G = J Jᵀ``, find ``α > 0`` with

        G α = 1/α   (element-wise),     d = Jᵀα,

    so that ``g_iᵀd = 1/α_i > 0`` for every ``i`` (a common descent direction) and
    ``||d||² = αᵀGα = K``. ``α`` is the unique minimizer of the strictly convex
    ``φ(α) = ½αᵀGα − Σ log α_i`` (gradient ``Gα − 1/α``). A solution exists iff no
    ``w >= 0, w ≠ 0`` has ``Jᵀw = 0``, i.e. iff the point is not Pareto-stationary.

    The solution is equivariant under a rescaling of each objective (``g_i → s_i g_i`` gives
    ``α_i → α_i / s_i``, the same ``d``), so the rule solves ``Cβ = 1/β`` for the cosine matrix
    ``C_ij = G_ij / (||g_i|| ||g_j||)`` and returns ``α_i = β_i / ||g_i||``.

    Solver (``backend="newton"``): damped Newton on the K variables in float64, Hessian
    ``C + diag(1/β²)``. ``φ`` is self-concordant, so the step ``β − Δ/(1 + λ)`` (``λ`` the
    Newton decrement) stays positive and decreases ``φ`` while ``λ > 0.25``; full steps then
    converge quadratically; it stops at the rounding floor (at most 100 iterations). Cold
    start: the best ``t·1`` (exact for K <= 2); warm start: the previous ``α`` rescaled to the
    best point of its ray. ``backend="cvxpy"`` runs the reference code's sequential convex
    iteration instead (for differential tests; needs cvxpy).

    Complexity: O(K³) per Newton iteration (a K×K solve), typically 5 to 10 iterations from
    the cold start, fewer warm; the ``stationary_tol`` check adds one min-norm solve
    (`moo.solvers.min_norm_weights`).

    Certificate: ``residual = ||α ∘ (Gα) − 1||₂`` (`nash_residual`), scale-free; below 1 it
    certifies ``g_iᵀd > 0`` and bounds the relative error of every ``α_i`` by
    ``r / (1 − r)``. Its rounding floor grows like ``1e-16 / m²`` as the normalized
    stationarity ``m`` below goes to zero (measured: ``r m² <= 3e-15``, so ``r <= 3e-5``
    just above ``m = 1e-6``).

    Singular case: when some gradient is zero or ``m = min_{w ∈ Δ} ||Σ w_i g_i/||g_i|| ||``
    (`normalized_stationarity`) is ``<= stationary_tol``, the problem has no solution and
    ``on_stationary`` decides (``info["stationary"] = True`` whenever the rule returns):

    - ``"raise"``: `ParetoStationaryError` (a ``ValueError`` naming the objectives whose
      normalized gradients combine to (nearly) zero); the minimize loop ends with reason
      ``"stationary"``;
    - ``"stop"``: zero weights (``d = 0``, which stops the minimize loop);
    - ``"keep"``: the reference implementation's behaviour in a training loop, where an
      objective's gradient can be exactly zero in one batch (a dead ReLU, a masked task): the
      step reuses the last computed ``α`` (clipped for the current ``G`` like any reused
      ``α``; a zero-gradient objective adds nothing to ``d`` whatever its weight), or the
      reference's first weights ``α = 1`` (``d = ∇ Σ L_i``) when there is none yet; the state
      is left as it was, so the next solvable step warm-starts from that ``α``.
      ``info["kept"] = True``; ``residual`` is the certificate of the kept ``α`` (``>= 1``
      where a gradient is zero: it certifies nothing);
    - ``None`` (default): ``"raise"``, except where the caller sets another default with
      `stationary_policy`: `moo.torch.backward` (and so ``moo-mm``) uses ``"keep"``.

    The unnormalized stationarity is then ``min_{w ∈ Δ} ||Jᵀw|| <= stationary_tol · max_i
    ||g_i||``.

    Scale: without clipping (``max_norm=None``, default) the weights are ``α`` itself, so
    ``||d|| = √K``. With ``max_norm = c`` they are ``α · min(1, c / ||Jᵀα||)``, the
    reference's clipping of the combined gradient (its default ``c = 1``; it then returns
    unit-norm directions for every K >= 2).

    Args:
        max_norm: clip ``||d||`` to this (``> 0``), or ``None`` for no clipping (default;
            the reference's ``max_norm=0``).
        update_weights_every: recompute ``α`` on every N-th call only (reference default 1);
            other calls reuse the last ``α`` (clipped for the current ``G``), which need not
            be a descent direction for the current gradients.
        backend: ``"newton"`` (default) or ``"cvxpy"`` (the reference iteration).
        stationary_tol: normalized Pareto-stationarity ``m`` at or below which the rule
            treats the point as stationary (default 1e-6, in ``[1e-7, 1)``: ``m`` is only
            known to about 1e-8 from the Gramian).
        on_stationary: ``"raise"``, ``"stop"``, ``"keep"`` or ``None`` (default: ``"raise"``,
            ``"keep"`` under `moo.torch.backward`; see the singular case above).
        optim_niter: iterations of the cvxpy backend (reference default 20).
        cvxpy_solver: conic solver of the cvxpy backend (default ``"CLARABEL"``; the
            reference used ``"ECOS"``, which needs ``pip install ecos``).

    References: Navon et al., ICML 2022; Nesterov & Nemirovskii (1994).
    """

    name = "nash-mtl"
    summary = "Nash bargaining solution G α = 1/α, ||d|| = √K (damped Newton, exact)"
    common_descent = True
    stateful = True

    def __init__(
        self,
        max_norm: float | None = None,
        update_weights_every: int = 1,
        backend: Backend = "newton",
        stationary_tol: float = 1e-6,
        on_stationary: OnStationary | None = None,
        optim_niter: int = 20,
        cvxpy_solver: str = "CLARABEL",
    ) -> None:
        self._max_norm = (
            None if max_norm is None else check_real(max_norm, "max_norm", low=0.0, low_open=True)
        )
        self._update_weights_every = check_int(update_weights_every, "update_weights_every", low=1)
        self._backend: Backend = check_choice(backend, "backend", BACKENDS)  # type: ignore[assignment]
        self._stationary_tol = check_real(
            stationary_tol, "stationary_tol", low=MIN_STATIONARY_TOL, high=1.0, high_open=True
        )
        self._on_stationary: OnStationary | None = (
            None
            if on_stationary is None
            else check_choice(on_stationary, "on_stationary", ON_STATIONARY)  # type: ignore[assignment]
        )
        self._optim_niter = check_int(optim_niter, "optim_niter", low=1)
        if not isinstance(cvxpy_solver, str) or not cvxpy_solver:
            raise ValueError(f"cvxpy_solver must be a solver name, got {cvxpy_solver!r}")
        self._cvxpy_solver = cvxpy_solver
        if self._backend == "cvxpy":
            _check_cvxpy(cvxpy_solver)
        self._alpha: FloatArray | None = None
        self._calls = 0
        self._status = ""

    # ---------------------------------------------------------------------------- state

    def reset(self) -> None:
        """Forget the last ``α`` (warm start, reuse) and the call counter."""
        self._alpha = None
        self._calls = 0

    def state_dict(self) -> dict[str, Any]:
        """``{"alpha": the last computed α (a list of floats) or None, "calls": calls so far}``.

        Plain Python values only (exact: a float64 is a Python float), so that the state
        loads with ``torch.load(weights_only=True)``. ``alpha`` is all zeros when the last
        computation stopped at a Pareto-stationary point (``on_stationary="stop"``); the next
        computation then starts cold.
        """
        return {
            "alpha": None if self._alpha is None else self._alpha.tolist(),
            "calls": self._calls,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned (``alpha`` may also be an array, as older
        states hold it)."""
        if set(state) != {"alpha", "calls"}:
            raise ValueError(f"state must have keys ['alpha', 'calls'], got {sorted(state)}")
        calls = check_int(state["calls"], "calls", low=0)
        alpha = state["alpha"]
        if alpha is not None:
            alpha = np.array(alpha, dtype=np.float64)
            positive = bool(np.all(alpha > 0.0)) or not np.any(alpha)
            if alpha.ndim != 1 or not np.all(np.isfinite(alpha)) or not positive:
                raise ValueError(
                    f"state alpha must be a positive (or all-zero) finite vector, got {alpha}"
                )
        self._alpha, self._calls = alpha, calls

    # ---------------------------------------------------------------------------- weights

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        k = gramian.shape[0]
        recompute = self._calls % self._update_weights_every == 0
        self._calls += 1
        if not recompute:
            if self._alpha is None or self._alpha.shape[0] != k:
                have = "no weights" if self._alpha is None else f"{self._alpha.shape[0]} weights"
                raise ValueError(
                    f"update_weights_every={self._update_weights_every}: this call reuses the "
                    f"last weights, but the rule has {have} for {k} objectives; call reset()"
                )
            alpha = self._alpha
            info: dict[str, Any] = {"iterations": 0, "reused": True}
            if not np.any(alpha):  # the last computation stopped at a stationary point
                info.update(stationary=True, norm=0.0, clip=1.0)
                return RuleResult(alpha.copy(), 0.0, info)
            residual = nash_residual(gramian, alpha)  # of the old α for the new G
        else:
            start = self._alpha
            if start is not None and (start.shape[0] != k or not np.all(start > 0.0)):
                start = None
            try:
                if self._backend == "newton":
                    sol = nash_weights(gramian, start, stationary_tol=self._stationary_tol)
                else:
                    sol = self._cvxpy(gramian, start)
            except ParetoStationaryError as error:
                policy = self._policy()
                if policy == "raise":
                    raise
                if policy == "keep":
                    return self._keep(gramian, error.stationarity)
                info = {
                    "iterations": 0,
                    "reused": False,
                    "stationary": True,
                    "stationarity": error.stationarity,
                    "norm": 0.0,
                    "clip": 1.0,
                }
                self._alpha = np.zeros(k)
                return RuleResult(np.zeros(k), 0.0, info)
            alpha = sol.weights
            self._alpha = alpha.copy()
            info = {"iterations": sol.iterations, "reused": False}
            if self._backend == "cvxpy":
                info["cvxpy_status"] = self._status
            residual = sol.residual
        norm = math.sqrt(max(float(alpha @ gramian @ alpha), 0.0))
        clip = 1.0
        if self._max_norm is not None and norm > self._max_norm:
            clip = self._max_norm / norm
        info.update(stationary=False, norm=norm, clip=clip)
        return RuleResult(alpha * clip, residual, info)

    def _policy(self) -> OnStationary:
        """``on_stationary``, or the caller's default (`stationary_policy`) when not given."""
        return self._on_stationary if self._on_stationary is not None else _DEFAULT_POLICY.get()

    def _keep(self, gramian: FloatArray, stationarity: float) -> RuleResult:
        """The ``"keep"`` policy at a point without solution: the last ``α`` (or 1), clipped."""
        k = gramian.shape[0]
        last = self._alpha
        usable = last is not None and last.shape[0] == k and bool(np.all(last > 0.0))
        alpha = last.copy() if usable and last is not None else np.ones(k)
        norm = math.sqrt(max(float(alpha @ gramian @ alpha), 0.0))
        clip = 1.0
        if self._max_norm is not None and norm > self._max_norm:
            clip = self._max_norm / norm
        info: dict[str, Any] = {
            "iterations": 0,
            "reused": True,
            "kept": True,
            "stationary": True,
            "stationarity": stationarity,
            "norm": norm,
            "clip": clip,
        }
        return RuleResult(alpha * clip, nash_residual(gramian, alpha), info)

    def _cvxpy(self, gramian: FloatArray, start: FloatArray | None) -> NashSolution:
        """The reference's sequential convex iteration (see the docs), from its warm start."""
        error = _stationary_error(gramian, self._stationary_tol)
        if error is not None:
            raise error
        k = gramian.shape[0]
        alpha, iterations, status = _reference_iteration(
            gramian,
            np.ones(k) if start is None else start,
            self._optim_niter,
            self._cvxpy_solver,
        )
        self._status = status
        return NashSolution(alpha, nash_residual(gramian, alpha), iterations)

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """``w = c·α`` with ``α > 0`` solving ``Gα = 1/α`` and the clip factor
        ``c = min(1, max_norm/√K)`` (1 without clipping); or ``w = 0`` at a point that is
        Pareto-stationary to ``stationary_tol`` (``on_stationary="stop"``), or positive
        weights there (``"keep"``: the last ``α``, clipped, which obeys no law for this ``G``).

        The tolerance on ``||α ∘ (Gα) − 1||`` follows the rounding floor of the certificate:
        ``1e-9 + 1e-14 K (max_i α_i ||g_i||)²``. Reused weights
        (``update_weights_every > 1``) do not obey the law for a new ``G``.
        """
        assert gramian is not None
        k = gramian.shape[0]
        if not np.any(weights):
            m, _ = normalized_stationarity(gramian)
            if self._policy() == "stop" and m <= self._stationary_tol:
                return None
            return f"zero weights at a point that is not Pareto-stationary (m = {m:.3g})"
        if self._policy() == "keep" and np.all(weights > 0.0):
            m, _ = normalized_stationarity(gramian)
            if m <= self._stationary_tol:
                return None
        c = 1.0 if self._max_norm is None else min(1.0, self._max_norm / math.sqrt(k))
        alpha = weights / c
        if np.any(alpha <= 0.0):
            return f"weights must be positive, got min {float(weights.min()):.3g}"
        r = nash_residual(gramian, alpha)
        beta = alpha * np.sqrt(gramian.diagonal())
        tol = 1e-9 + 1e-14 * k * float(beta.max()) ** 2
        if not r <= tol:
            return f"G α = 1/α violated: ||α ∘ (Gα) − 1|| = {r:.3g} > {tol:.3g} (clip c = {c:g})"
        return None


def _check_cvxpy(solver: str) -> None:
    cp: Any = require("cvxpy", "NashMTL(backend='cvxpy')", "cvxpy")  # only partly typed
    if solver.upper() not in cp.installed_solvers():
        hint = " (pip install ecos)" if solver.upper() == "ECOS" else ""
        raise ImportError(
            f"NashMTL(backend='cvxpy', cvxpy_solver={solver!r}): solver {solver!r} is not "
            f"installed{hint}; installed: {', '.join(cp.installed_solvers())}"
        )


def _reference_iteration(
    gramian: FloatArray, start: FloatArray, niter: int, solver: str
) -> tuple[FloatArray, int, str]:
    """The sequential convex iteration of the reference ``NashMTL.solve_optimization``.

    Same model, parameters and stopping rule as the reference code: ``G̃ = G / ||G||_F``,
    variable ``α >= 0``, constraints ``−log(α_i ||G||_F) − log((G̃α)_i) <= 0`` (that is
    ``α_i (Gα)_i >= 1`` for the raw ``G``), objective ``Σ_i (G̃α)_i + φ'(α_t)ᵀ(α − α_t) /
    ||G||_F`` with ``φ'(α) = 1/α + G̃ᵀ(1/(G̃α))``; stop when the solver fails, when
    ``||G̃α_t − 1/(α_t + 1e-10)|| < 1e-3`` or when ``||α_{t+1} − α_t|| < 1e-6`` (then ``α_t`` is
    returned), else after ``niter`` solves. A solver error keeps ``α_t``, as in the reference.
    Also returns the number of solves and the status of the last one (``"error"`` when the
    solver raised): a subproblem that is unbounded (``"unbounded"``, e.g. from the cold start
    ``α = 1`` when some ``(Gα)_i < 0``) leaves ``α_t`` unchanged.
    """
    import cvxpy

    cp: Any = cvxpy  # cvxpy is only partly typed
    k = gramian.shape[0]
    nf = float(np.linalg.norm(gramian))
    gtg = gramian / nf
    alpha_param = cp.Variable(shape=(k,), nonneg=True)
    prvs_alpha_param = cp.Parameter(shape=(k,), value=np.asarray(start, dtype=np.float64))
    g_param = cp.Parameter(shape=(k, k), value=gtg)
    nf_param = cp.Parameter(shape=(1,), value=np.array([nf]))
    g_prvs_alpha = g_param @ prvs_alpha_param
    prvs_phi_tag = 1 / prvs_alpha_param + (1 / g_prvs_alpha) @ g_param
    phi_alpha = prvs_phi_tag @ (alpha_param - prvs_alpha_param)
    g_alpha = g_param @ alpha_param
    constraints = [-cp.log(alpha_param[i] * nf_param) - cp.log(g_alpha[i]) <= 0 for i in range(k)]
    problem = cp.Problem(cp.Minimize(cp.sum(g_alpha) + phi_alpha / nf_param), constraints)
    options: dict[str, Any] = {"max_iters": 100} if solver.upper() == "ECOS" else {}

    alpha_t = np.asarray(start, dtype=np.float64)
    iterations = 0
    status = ""
    for _ in range(niter):
        alpha_param.value = alpha_t
        prvs_alpha_param.value = alpha_t
        iterations += 1
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*not DPP.*")
                warnings.filterwarnings("ignore", message="Solution may be inaccurate.*")
                problem.solve(solver=solver.upper(), warm_start=True, **options)
            status = str(problem.status)
        except (cp.error.SolverError, ValueError):
            alpha_param.value = prvs_alpha_param.value
            status = "error"
        new = alpha_param.value
        if (
            new is None
            or np.linalg.norm(gtg @ alpha_t - 1 / (alpha_t + 1e-10)) < 1e-3
            or np.linalg.norm(new - prvs_alpha_param.value) < 1e-6
        ):
            break
        alpha_t = np.asarray(new, dtype=np.float64)
    return alpha_t, iterations, status
