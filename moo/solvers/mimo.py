"""MIMO: a nominal objective plus a smoothed worst-case penalty on a group of objectives.

The formulation follows the problem statement of Fernando et al. (2025): prefer a small worst
loss in a group of *modality* objectives while retaining a *nominal* (fusion) objective,
solved through a smoothed penalty whose weights depend on the loss values only. The paper's
full text and code were not available when this module was written; the smoothings, the
options and the defaults are this project's own choices.

References:
    H. D. Fernando et al., "Balancing Multi-modal Sensor Learning via Multi-objective
    Optimization", arXiv:2511.06686 (2025).
    Y. Nesterov, "Smooth minimization of non-smooth functions", Mathematical Programming 103
    (2005) (smoothing a max by a strongly convex regularizer on the simplex).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._simplex import project_simplex, simplex_error
from moo.validation import FloatArray, as_vector, check_choice, check_int, check_real

Smoothing = Literal["logsumexp", "quadratic"]
Update = Literal["closed-form", "ascent"]
Normalize = Literal["none", "sum"]
GammaSchedule = Literal["constant", "linear-warmup"]

SMOOTHINGS: tuple[str, ...] = ("logsumexp", "quadratic")
UPDATES: tuple[str, ...] = ("closed-form", "ascent")
NORMALIZES: tuple[str, ...] = ("none", "sum")
GAMMA_SCHEDULES: tuple[str, ...] = ("constant", "linear-warmup")

_STATE_KEYS = ("step", "tracked", "reference", "dual")


class SmoothedMax(NamedTuple):
    """Result of `smoothed_max`.

    Attributes:
        value: ``smax_μ(f)``.
        weights: ``λ = ∇ smax_μ(f)``, on the simplex (M,).
    """

    value: float
    weights: FloatArray


def _smooth(z: list[float], mu: float, smoothing: str) -> tuple[float, list[float]]:
    """``(smax_μ(z), λ)`` for validated finite values (list form: the hot path)."""
    if smoothing == "logsumexp":
        top = max(z)
        inv = 1.0 / mu
        e = [math.exp((v - top) * inv) for v in z]
        s = sum(e)
        return top + mu * math.log(s), [x / s for x in e]
    # shifted by max z (the projection commutes with adding a constant to every entry): the
    # top entry is 0, so the sort-based threshold is found even for huge z / μ
    top = max(z)
    lam: list[float] = project_simplex((np.array(z) - top) / mu).tolist()
    lin = sum(lm * v for lm, v in zip(lam, z, strict=True))
    return lin + 0.5 * mu * (1.0 - sum(lm * lm for lm in lam)), lam


def smoothed_max(values: ArrayLike, mu: float, smoothing: Smoothing = "logsumexp") -> SmoothedMax:
    """The smoothed maximum ``smax_μ(f) = max_{λ ∈ Δ} λᵀf + μ h(λ)`` and its gradient ``λ``.

    - ``"logsumexp"``: ``h(λ) = −Σ λ_m log λ_m`` (entropy), ``smax_μ(f) = μ log Σ exp(f_m/μ)``,
      ``λ = softmax(f/μ)``; ``max f <= smax_μ(f) <= max f + μ log M``.
    - ``"quadratic"``: ``h(λ) = (1 − ||λ||²)/2`` (Gini entropy), ``λ = Π_Δ(f/μ)``,
      ``smax_μ(f) = λᵀf + μ (1 − ||λ||²)/2``; ``max f <= smax_μ(f) <= max f + μ (1 − 1/M)/2``.

    Both are computed stably (the log-sum-exp is shifted by ``max f``).

    Args:
        values: ``f`` (M,), finite, ``M >= 1``.
        mu: smoothing ``μ > 0``.
        smoothing: ``"logsumexp"`` (default) or ``"quadratic"``.
    """
    f = as_vector(values, "values")
    if f.size == 0:
        raise ValueError("values must hold at least one entry, got an empty array")
    m = check_real(mu, "mu", low=0.0, low_open=True)
    check_choice(smoothing, "smoothing", SMOOTHINGS)
    value, lam = _smooth(f.tolist(), m, smoothing)
    return SmoothedMax(value, np.array(lam))


@register
class MIMO(Weighting):
    r"""MIMO: nominal objective plus a smoothed worst-case penalty on a group, from loss values.

    Math: the objectives split into a *nominal* one ``f_0`` (index `nominal`; in multimodal
    learning the fusion loss) and a *group* ``f_1 .. f_M`` (every other index, or `group`; one
    uni-modal loss per modality). The problem -- lexicographically prefer a small worst group
    loss ``max_m f_m`` while retaining ``f_0`` -- is solved through the smoothed penalty

        F_{γ,μ}(x) = f_0(x) + γ · smax_μ(f_1(x), ..., f_M(x)),
        smax_μ(f) = max_{λ ∈ Δ} λᵀf + μ h(λ),

    whose gradient is ``∇f_0 + γ Σ_m λ_m ∇f_m`` with ``λ = ∇ smax_μ(f)``. So the weights are

        w_nominal = 1,    w_m = γ λ_m   (m in the group),    0 for any other index,

    and depend on the loss values only: one backward pass of ``Σ_i w_i f_i`` in a training
    loop, ``O(M)`` work, no quadratic program.

    Smoothing (``h``; see `smoothed_max`): ``"logsumexp"`` (entropy):
    ``λ = softmax(f/μ)``, ``smax_μ = μ log Σ exp(f_m/μ) ∈ [max f, max f + μ log M]``;
    ``"quadratic"`` (``h = (1 − ||λ||²)/2``): ``λ = Π_Δ(f/μ)``,
    ``smax_μ ∈ [max f, max f + μ(1 − 1/M)/2]``. As ``μ → 0`` all group weight goes to the worst
    objective; as ``μ → ∞`` it spreads uniformly (quadratic: once ``μ >= Σ_m (f_m − min f)``
    every group objective gets weight, ``λ = 1/M + (f − mean f)/μ``).

    Guarantee: if ``f_0`` is ``L_0``-smooth and each ``f_m`` is ``L``-smooth with
    ``||∇f_m|| <= G``, ``F`` is ``L_F``-smooth with ``L_F <= L_0 + γ(L + G²/μ)`` (logsumexp;
    ``softmax`` is ``1/μ``-Lipschitz from the ``ℓ∞`` to the ``ℓ1`` norm) or
    ``L_F <= L_0 + γ(L + M G²/μ)`` (quadratic; ``Π_Δ`` is only ``ℓ2``-nonexpansive). So
    gradient descent with step ``<= 1/L_F`` decreases ``F`` monotonically to a stationary point,
    and SGD with unbiased estimates of ``∇F`` reaches ``min_t E||∇F||² = O(1/√T)``. Weights
    computed from minibatch losses ``f̂`` bias the estimate by at most
    ``γ G E||f̂ − f||_∞ / μ`` (logsumexp): the reason for `tracking`.

    Options (defaults: the closed form, no tracking, raw losses, a constant penalty):

    - ``update="ascent"``: instead of the closed form ``λ*``, keep ``λ`` as state and take one
      ascent step of ``λᵀz + μ h(λ)`` per call, from uniform ``λ``, with step ``η = ascent_lr``.
      logsumexp (entropic mirror ascent): ``log λ ← (1 − ημ) log λ + η z + const``;
      quadratic (projected ascent): ``λ ← Π_Δ(λ + η(z − μλ))``. At fixed ``z`` both contract
      toward the closed form by the factor ``|1 − ημ|`` per call (the error of ``log λ`` up to
      a constant, resp. of ``λ`` in ``ℓ2``), so ``ημ < 2`` is required and ``η = 1/μ``
      reproduces the closed form in one call. The residual is ``||λ − λ*(z)||_1``.
    - ``tracking=β < 1``: the group losses are tracked, ``u ← (1 − β)u + βf`` (``u`` starts at
      the first losses seen), and ``λ`` is computed from ``u``.
    - ``relative=True``: ``λ`` is computed from ``z_m = u_m / u_m⁰``, the (tracked) group
      losses over their first value seen (which must be positive): a priority on relative
      progress, blind to the losses' scales. The weights stay ``γλ_m`` on the raw losses (so
      the direction is no gradient of a fixed function). A group objective that makes no
      progress keeps ``z_m ≈ 1`` and stays the priority.
    - ``gamma`` may be a function ``step -> γ_t`` of the call counter ``t = 0, 1, ...`` (since
      `reset`), and ``gamma_schedule="linear-warmup"`` multiplies ``γ`` (or ``γ_t``) by
      ``min(1, (t + 1)/warmup_steps)``.

    With any of these options the weights depend on earlier calls, and `merit` is ``None``.

    Scale: ``normalize="none"`` (default): ``w_nominal = 1`` and the group weights sum to
    ``γ_t``; ``normalize="sum"``: all weights divided by ``1 + γ_t``, so they sum to 1.

    Args:
        gamma: penalty weight ``γ >= 0`` (default 1), or a function of the step returning it.
        mu: smoothing ``μ > 0`` (default 0.5).
        smoothing: ``"logsumexp"`` (default) or ``"quadratic"``.
        update: ``"closed-form"`` (default) or ``"ascent"``.
        ascent_lr: ascent step ``η > 0`` for ``update="ascent"`` (default 1), with ``ημ < 2``.
        tracking: loss-tracking factor ``β ∈ (0, 1]`` (default 1: no tracking).
        relative: priority on losses relative to their first value (default ``False``).
        normalize: ``"none"`` (default) or ``"sum"``.
        nominal: index of the nominal objective (default 0); checked against the number of
            objectives at each call.
        group: indices of the group (default: every index but `nominal`). With an explicit
            group the rule expects exactly ``max(nominal, *group) + 1`` objectives; indices in
            neither get weight 0.
        gamma_schedule: ``"constant"`` (default) or ``"linear-warmup"``.
        warmup_steps: length of the warmup, ``>= 1`` with ``"linear-warmup"``, 0 otherwise.

    References: Fernando et al., arXiv:2511.06686 (2025) (the problem statement); Nesterov
    (2005) (smoothing).
    """

    name = "mimo"
    summary = "nominal objective + gamma * smoothed max of a group, weights from loss values"
    uses_gramian = False
    permutation_equivariant = False  # the nominal index is part of the configuration
    stateful = True

    def __init__(
        self,
        gamma: float | Callable[[int], float] = 1.0,
        mu: float = 0.5,
        smoothing: Smoothing = "logsumexp",
        update: Update = "closed-form",
        ascent_lr: float = 1.0,
        tracking: float = 1.0,
        relative: bool = False,
        normalize: Normalize = "none",
        nominal: int = 0,
        group: Sequence[int] | None = None,
        gamma_schedule: GammaSchedule = "constant",
        warmup_steps: int = 0,
    ) -> None:
        if callable(gamma):
            self._gamma: float | Callable[[int], float] = gamma
            self._gamma_fixed: float | None = None
        else:
            self._gamma = self._gamma_fixed = check_real(gamma, "gamma", low=0.0)
        self._mu = check_real(mu, "mu", low=0.0, low_open=True)
        self._smoothing: Smoothing = check_choice(  # type: ignore[assignment]
            smoothing, "smoothing", SMOOTHINGS
        )
        self._update: Update = check_choice(update, "update", UPDATES)  # type: ignore[assignment]
        self._ascent_lr = check_real(ascent_lr, "ascent_lr", low=0.0, low_open=True)
        if self._update == "ascent" and self._ascent_lr * self._mu >= 2.0:
            raise ValueError(
                f"ascent_lr={self._ascent_lr} with mu={self._mu} gives ascent_lr*mu = "
                f"{self._ascent_lr * self._mu:g} >= 2, where the ascent does not converge; "
                f"use ascent_lr < {2.0 / self._mu:g} (1/mu = {1.0 / self._mu:g} is exact)"
            )
        self._tracking = check_real(tracking, "tracking", low=0.0, high=1.0, low_open=True)
        if not isinstance(relative, (bool, np.bool_)):
            raise TypeError(f"relative must be a bool, got {relative!r}")
        self._relative = bool(relative)
        self._normalize: Normalize = check_choice(  # type: ignore[assignment]
            normalize, "normalize", NORMALIZES
        )
        self._nominal = check_int(nominal, "nominal", low=0)
        self._group: tuple[int, ...] | None = None if group is None else self._check_group(group)
        self._gamma_schedule: GammaSchedule = check_choice(  # type: ignore[assignment]
            gamma_schedule, "gamma_schedule", GAMMA_SCHEDULES
        )
        self._warmup_steps = check_int(warmup_steps, "warmup_steps", low=0)
        if self._gamma_schedule == "linear-warmup" and self._warmup_steps < 1:
            raise ValueError(
                f"gamma_schedule='linear-warmup' needs warmup_steps >= 1, got {self._warmup_steps}"
            )
        if self._gamma_schedule == "constant" and self._warmup_steps != 0:
            raise ValueError(
                f"warmup_steps={self._warmup_steps} has no effect with gamma_schedule='constant'; "
                "set gamma_schedule='linear-warmup'"
            )
        # the weights are a function of the current losses alone: a merit function exists
        self._memoryless = (
            self._update == "closed-form"
            and self._tracking == 1.0
            and not self._relative
            and self._gamma_fixed is not None
            and self._gamma_schedule == "constant"
        )
        self._inv_warmup = 1.0 / self._warmup_steps if self._warmup_steps else 0.0
        self._layout_k = -1  # number of objectives the cached layout was checked for
        self._index: list[int] = []  # group indices for that number
        self._last_gamma: float | None = None
        self.reset()

    def _check_group(self, group: Sequence[int]) -> tuple[int, ...]:
        if (
            isinstance(group, (str, bytes))
            or not isinstance(group, Sequence | np.ndarray)
            or np.ndim(group) != 1
        ):
            raise TypeError(f"group must be a sequence of indices or None, got {group!r}")
        items = list(group)
        if not items:
            raise ValueError("group must hold at least one index, got []")
        if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in items):
            raise TypeError(f"group must hold integer indices, got group={items!r}")
        idx = tuple(int(i) for i in items)
        if min(idx) < 0:
            raise ValueError(f"group indices must be >= 0, got group={list(idx)}")
        if len(set(idx)) != len(idx):
            raise ValueError(f"group indices must be distinct, got group={list(idx)}")
        if self._nominal in idx:
            raise ValueError(
                f"group={list(idx)} overlaps the nominal objective nominal={self._nominal}"
            )
        return idx

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the step counter, the tracked losses, the reference losses and ``λ``."""
        self._step = 0
        self._tracked: list[float] | None = None
        self._reference: list[float] | None = None
        self._dual: list[float] | None = None
        self._last_gamma = None

    def state_dict(self) -> dict[str, Any]:
        """``step`` (calls since `reset`), ``tracked`` (``u``), ``reference`` (``u⁰`` of
        ``relative``) and ``dual`` (the ascent's logits ``log λ + c`` for logsumexp, ``λ`` for
        quadratic); these are lists of floats, ``None`` until used. Plain Python values only,
        so that the state loads with ``torch.load(weights_only=True)``."""

        def arr(v: list[float] | None) -> list[float] | None:
            return None if v is None else [float(x) for x in v]

        return {
            "step": self._step,
            "tracked": arr(self._tracked),
            "reference": arr(self._reference),
            "dual": arr(self._dual),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned (checked: keys, sizes, finiteness); the vectors
        may also be arrays, as older states hold them."""
        if set(state) != set(_STATE_KEYS):
            raise ValueError(f"state must have the keys {list(_STATE_KEYS)}, got {sorted(state)}")
        step = check_int(state["step"], "state['step']", low=0)
        uses = {
            "tracked": self._tracking < 1.0,
            "reference": self._relative,
            "dual": self._update == "ascent",
        }
        loaded: dict[str, list[float] | None] = {}
        sizes = set()
        for key, used in uses.items():
            value = state[key]
            if value is None:
                loaded[key] = None
                continue
            if not used:
                raise ValueError(f"state[{key!r}] is set but this rule does not use it: {self!r}")
            vec = as_vector(value, f"state[{key!r}]")
            sizes.add(vec.size)
            loaded[key] = vec.tolist()
        if len(sizes) > 1:
            raise ValueError(f"state arrays must have one length, got lengths {sorted(sizes)}")
        ref, dual = loaded["reference"], loaded["dual"]
        if ref is not None and min(ref) <= 0.0:
            raise ValueError(f"state['reference'] must be positive, got {ref}")
        if dual is not None and self._smoothing == "quadratic":
            problem = simplex_error(np.array(dual))
            if problem is not None:
                raise ValueError(f"state['dual'] must be on the simplex: {problem}")
        self._step = step
        self._tracked, self._reference, self._dual = loaded["tracked"], ref, dual
        self._last_gamma = None

    # -- weights -----------------------------------------------------------------------------

    def weights(self, gramian: ArrayLike | None, losses: ArrayLike) -> RuleResult:
        """Weights from the K loss values (``gramian`` is not needed; if given, it is checked).

        Fast path: a 1-D float64 array is not copied, and finiteness is checked on the sum.
        """
        if gramian is not None:
            return super().weights(gramian, losses)
        if type(losses) is np.ndarray and losses.ndim == 1 and losses.dtype.char == "d":
            vals: list[float] = losses.tolist()
        else:
            vals = as_vector(losses, "losses").tolist()
        if not math.isfinite(sum(vals)):  # NaN or infinity (or a sum that overflows)
            as_vector(losses, "losses")  # raises naming the first non-finite entry
        return self._compute(vals)

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        return self._compute(losses.tolist())

    def _layout(self, k: int) -> None:
        """Check the configuration against ``k`` objectives and cache the group indices."""
        if k < 2:
            raise ValueError(
                "MIMO needs at least 2 objectives (a nominal one and a group of at least one), "
                f"got {k}"
            )
        if self._nominal >= k:
            raise ValueError(f"nominal={self._nominal} is out of range for {k} objectives")
        if self._group is None:
            index = [i for i in range(k) if i != self._nominal]
        else:
            expected = max(self._nominal, *self._group) + 1
            if k < expected:
                raise ValueError(
                    f"group={list(self._group)} is out of range for {k} objectives "
                    f"(this rule expects exactly {expected})"
                )
            if k > expected:
                raise ValueError(
                    f"losses has {k} objectives but MIMO(nominal={self._nominal}, "
                    f"group={list(self._group)}) expects exactly {expected}"
                )
            index = list(self._group)
        self._index = index
        self._layout_k = k

    def _gamma_at(self, step: int) -> float:
        if self._gamma_fixed is not None:
            gamma = self._gamma_fixed
        else:
            assert callable(self._gamma)
            raw = self._gamma(step)
            if isinstance(raw, bool) or not isinstance(raw, Real) or not math.isfinite(raw):
                raise ValueError(f"gamma({step}) returned {raw!r}; it must be a finite number")
            gamma = float(raw)
            if gamma < 0.0:
                raise ValueError(f"gamma({step}) returned {gamma}; it must be >= 0")
        if self._gamma_schedule == "linear-warmup":
            gamma *= min(1.0, (step + 1) * self._inv_warmup)
        return gamma

    def _group_values(self, vals: list[float]) -> list[float]:
        k = len(vals)
        if k != self._layout_k:
            self._layout(k)
        if self._group is None:
            n = self._nominal
            return vals[1:] if n == 0 else vals[:n] + vals[n + 1 :]
        return [vals[i] for i in self._index]

    def _priority(self, z: list[float]) -> list[float]:
        """Apply tracking and the relative reference to the group losses (updates state)."""
        for held in (self._tracked, self._reference, self._dual):
            if held is not None and len(held) != len(z):
                raise ValueError(
                    f"the losses give a group of {len(z)} objectives but this rule's state "
                    f"holds {len(held)}; call reset() before a run with another number of "
                    "objectives"
                )
        if self._tracking < 1.0:
            if self._tracked is not None:
                b = self._tracking
                a = 1.0 - b
                z = [a * u + b * v for u, v in zip(self._tracked, z, strict=True)]
            self._tracked = z
        if self._relative:
            if self._reference is None:
                if min(z) <= 0.0:
                    m = min(range(len(z)), key=z.__getitem__)
                    raise ValueError(
                        "relative=True needs positive group losses on the first call, got "
                        f"losses[{self._index[m]}] = {z[m]}"
                    )
                self._reference = list(z)
            z = [v / r for v, r in zip(z, self._reference, strict=True)]
        return z

    def _ascent(self, z: list[float], target: list[float]) -> tuple[list[float], float]:
        """One ascent step on ``λ`` (state); returns ``λ`` and ``||λ − λ*||_1``."""
        eta, mu = self._ascent_lr, self._mu
        keep = 1.0 - eta * mu
        m = len(z)
        if self._smoothing == "logsumexp":
            logits = self._dual if self._dual is not None else [0.0] * m
            logits = [keep * s + eta * v for s, v in zip(logits, z, strict=True)]
            top = max(logits)
            logits = [s - top for s in logits]
            e = [math.exp(s) for s in logits]
            total = sum(e)
            lam = [x / total for x in e]
            self._dual = logits
        else:
            prev = self._dual if self._dual is not None else [1.0 / m] * m
            v = np.array([keep * p + eta * v for p, v in zip(prev, z, strict=True)])
            lam = project_simplex(v - v.max()).tolist()
            self._dual = lam
        return lam, sum(abs(a - b) for a, b in zip(lam, target, strict=True))

    def _compute(self, vals: list[float]) -> RuleResult:
        z = self._group_values(vals)
        step = self._step
        gamma = self._gamma_fixed if self._gamma_schedule == "constant" else None
        if gamma is None:
            gamma = self._gamma_at(step)
        if not self._memoryless:
            z = self._priority(z)
        smax, lam = _smooth(z, self._mu, self._smoothing)
        residual = 0.0
        if self._update == "ascent":
            lam, residual = self._ascent(z, lam)
        if self._normalize == "none":
            c0, cg = 1.0, gamma
        else:
            c0 = 1.0 / (1.0 + gamma)
            cg = gamma * c0
        k = len(vals)
        if self._nominal == 0 and self._group is None:
            w = [c0, *[cg * x for x in lam]]
        else:
            w = [0.0] * k
            w[self._nominal] = c0
            for i, x in zip(self._index, lam, strict=True):
                w[i] = cg * x
        self._step = step + 1
        self._last_gamma = gamma
        info = {"lambda": np.array(lam), "gamma": gamma, "smax": smax}
        return RuleResult(np.array(w), residual, info)

    # -- merit and scale law -----------------------------------------------------------------

    def merit(self, losses: FloatArray) -> float | None:
        """``F = f_0 + γ · smax_μ(f_group)`` (over ``1 + γ`` with ``normalize="sum"``), whose
        gradient is the direction; ``None`` when the weights depend on earlier calls (ascent,
        tracking, relative, a schedule). Does not change the state."""
        if not self._memoryless:
            return None
        assert self._gamma_fixed is not None
        gamma = self._gamma_fixed
        vals = np.asarray(losses, dtype=np.float64).tolist()
        smax, _ = _smooth(self._group_values(vals), self._mu, self._smoothing)
        value = float(vals[self._nominal]) + gamma * smax
        return value / (1.0 + gamma) if self._normalize == "sum" else value

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """``w_nominal = c₀`` and group weights ``>= 0`` summing to ``γ_t c₀``, 0 elsewhere,
        with ``c₀ = 1`` (``normalize="none"``) or ``1/(1 + γ_t)`` (``"sum"``); ``γ_t`` is the
        penalty of the most recent call (of step 0 before any call)."""
        k = losses.shape[0]
        if k != self._layout_k:
            self._layout(k)
        gamma = self._last_gamma if self._last_gamma is not None else self._gamma_at(0)
        c0 = 1.0 if self._normalize == "none" else 1.0 / (1.0 + gamma)
        tol = 1e-12 * (1.0 + gamma)
        nominal = self._nominal
        if abs(weights[nominal] - c0) > tol:
            return f"nominal weight w[{nominal}] = {weights[nominal]!r}, expected {c0!r}"
        part = weights[self._index]
        if np.any(part < 0.0):
            return f"group weights must be non-negative, got min {float(part.min()):.3g}"
        total = float(part.sum())
        if abs(total - gamma * c0) > tol:
            return f"group weights sum to {total!r}, expected gamma_t * c0 = {gamma * c0!r}"
        rest = np.ones(k, dtype=bool)
        rest[self._nominal] = False
        rest[self._index] = False
        if np.any(weights[rest] != 0.0):
            return f"objectives outside the nominal one and the group must get 0, got {weights}"
        return None
