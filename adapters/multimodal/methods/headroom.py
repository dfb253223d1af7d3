"""``headroom``: priority to modalities that are behind *and still learning* on data they have
not memorized; a floor share for a sensor that only memorizes (or carries no signal).

Derivation and guarantee: ``docs/multimodal-methods-headroom.md``. MIMO minimizes
``f_0 + γ · smax_μ(f_1, ..., f_M)``, a smoothed Tchebycheff scalarization with the ideal point
0; a sensor without signal keeps the largest training loss (its encoder memorizes noise), so
MIMO spends its weight there. A loss *level* cannot tell a slow modality from a hopeless one;
the *shape* of the pre-step loss curve can. With the trainer's reshuffled epochs, the loss of
batch ``k`` of epoch ``e`` before the step is

    f_m(t) = L_m(θ_t) − G_m(e, Δ_t) + noise,

``L_m`` the population (fresh-data) loss and ``G_m ≥ 0`` the memorization gain on samples seen
``e`` times, last ``Δ_t`` steps ago (``G = 0`` in epoch 0: every batch is fresh). Within an
epoch ``e`` is fixed and ``E[Δ_t]`` grows by one per step (reshuffling), so if the gain does not
grow with the time since the last visit (forgetting, interference), the within-epoch trend of
``f_m`` is at least the trend of ``L_m``: the gains of revisits show up as *jumps* between
epochs, which a regression with one intercept per epoch removes. ``headroom`` therefore fits

    f_m(t) ≈ a_{m,e} − b_m · k_t          (k_t: the step's index within its epoch)

by least squares pooled over epochs (past epochs' sums decayed by ``ρ`` per epoch), takes the
progress statistic ``z_m = b_m / se(b_m)`` (a t-statistic; ``b_m > 0``: the loss falls within
epochs), and weights

    u_m ← (1 − β) u_m + β f_m                       tracked loss ("behind")
    g_m = clip((z_m − z_0) / z_r, 0, 1)             evidence of fresh progress ("still learning")
    h_m = g_m u_m                                   priority
    λ_m = (1 − ε) h_m / Σ_j h_j + ε / M             (Σ h = 0: the modalities that have shown
                                                    progress once share 1 − ε; none: 1/M)
    w_0 = 1 (fusion), w_m = γ M λ_m                 (Σ_m w_m = γ M: uniform's total at γ = 1)

then one backward of ``f_0 + Σ_m w_m f_m``. For a modality without signal ``L_m`` is constant
(or rises as its head grows confident), so ``E[b_m] ≤ 0`` and its gate stays closed up to the
one-sided noise ``P(z_m > z_0)``; it gets exactly the floor share ``ε / M``.
Host work per step: O(M) running sums; the loss values are the one device→host copy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from moo.validation import check_int, check_real
from moo_multimodal import _distributed
from moo_multimodal.methods._base import Method, StepReport, Timer, loss_values, losses, report
from moo_multimodal.methods._registry import register_method

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput, MultimodalModel

# the running sums of one modality: current epoch n, Σk, Σk², Σy, Σky, Σy² (raw), then the
# decayed past epochs' centered Σkk, Σky, Σyy, decayed count and decayed number of epochs
_SUMS = ("n", "k", "kk", "y", "ky", "yy", "pkk", "pky", "pyy", "pn", "pseg")


def progress_statistic(sums: Sequence[float]) -> float:
    """The t-statistic ``z = b / se(b)`` of the pooled within-epoch regression
    ``y ≈ a_e − b k`` from one modality's running sums (in the order of ``_SUMS``); 0 while
    there are fewer than 3 points beyond one intercept per epoch, ``±inf`` for an exact fit."""
    n, sk, skk, sy, sky, syy, pkk, pky, pyy, pn, pseg = sums
    ckk = ckv = cyy = 0.0
    if n > 0:
        ckk = skk - sk * sk / n
        ckv = sky - sk * sy / n
        cyy = syy - sy * sy / n
    kk, ky, yy = pkk + ckk, pky + ckv, pyy + cyy
    dof = pn + n - pseg - (1.0 if n > 0 else 0.0) - 1.0
    if kk <= 1e-12 or dof < 1.0:
        return 0.0
    b = -ky / kk
    ssr = max(yy - ky * ky / kk, 0.0)
    se = math.sqrt(ssr / dof / kk)
    if se <= 1e-12 * max(abs(b), 1e-300):
        return 0.0 if b == 0 else math.copysign(math.inf, b)
    return b / se


def headroom_weights(
    tracked: Sequence[float],
    progress: Sequence[float],
    *,
    threshold: float = 1.0,
    ramp: float = 2.0,
    floor: float = 0.2,
    learnt: Sequence[bool] | None = None,
) -> tuple[list[float], list[float]]:
    """The priority ``λ`` (on the simplex) and the gates ``g`` of the tracked uni-modal losses
    ``u`` and progress statistics ``z`` (see the module docstring for the formulas).

    Args:
        tracked: ``u_m >= 0``, one per modality (at least one).
        progress: ``z_m`` (finite or ``±inf``), one per modality.
        threshold: ``z_0``: the gate is closed while ``z_m <= z_0``.
        ramp: ``z_r > 0``: the gate opens linearly over ``z_r`` above ``z_0``.
        floor: ``ε ∈ [0, 1]``: the share spread uniformly whatever the losses.
        learnt: which modalities have shown progress once (the fallback while every ``h = 0``);
            ``None``: none.

    Raises:
        ValueError: an empty or mismatched input, a negative or non-finite loss, a NaN
            statistic, or a bad parameter.
    """
    threshold = check_real(threshold, "threshold")
    ramp = check_real(ramp, "ramp", low=0.0, low_open=True)
    floor = check_real(floor, "floor", low=0.0, high=1.0)
    u = [check_real(v, f"tracked[{i}]", low=0.0) for i, v in enumerate(tracked)]
    if not u:
        raise ValueError("tracked must hold at least one loss, got none")
    z = [float(v) for v in progress]
    if len(z) != len(u) or any(math.isnan(v) for v in z):
        raise ValueError(f"progress must hold {len(u)} statistics (no NaN), got {list(progress)}")
    flags = [False] * len(u) if learnt is None else [bool(x) for x in learnt]
    if len(flags) != len(u):
        raise ValueError(f"learnt must hold {len(u)} flags, got {len(flags)}")
    return _priorities(u, z, threshold, ramp, floor, flags)


def _priorities(
    u: list[float], z: list[float], threshold: float, ramp: float, floor: float, flags: list[bool]
) -> tuple[list[float], list[float]]:
    """`headroom_weights` on checked inputs (the method's per-step call: its parameters were
    checked when it was built, its tracked losses and statistics are finite or ``±inf``)."""
    gates = [min(1.0, max(0.0, (v - threshold) / ramp)) for v in z]
    heads = [g * v for g, v in zip(gates, u, strict=True)]
    total, m = sum(heads), len(u)
    if total <= 1e-12:
        if not any(flags):
            return [1.0 / m] * m, gates
        heads, total = [float(f) for f in flags], float(sum(flags))
    return [(1.0 - floor) * h / total + floor / m for h in heads], gates


@register_method
class Headroom(Method):
    """Priority to modalities that are behind and still learn on fresh data (a within-epoch
    loss trend); a floor share for the rest (one backward pass, weights from loss values).

    Args:
        gamma: ``γ >= 0``: the uni-modal weights sum to ``γ M`` (1: uniform weighting's total).
        tracking: ``β ∈ (0, 1]``: ``u ← (1 − β) u + β f`` on the uni-modal losses (1: none).
        threshold: ``z_0``: the progress statistic above which the gate opens.
        ramp: ``z_r > 0``: the gate is fully open at ``z_0 + z_r`` (and the modality counts as
            having learnt, for the fallback).
        floor: ``ε ∈ [0, 1]``: the uniform share every modality keeps (a modality whose gate is
            closed gets exactly ``ε / M`` while another one's is open).
        memory: ``ρ ∈ [0, 1]``: the weight of the previous epoch's sums in the regression
            (decays as ``ρ^age``; 0: the current epoch only).

    State (checkpointed): the step counter, the epoch, the tracked losses, the running sums
    and the learnt flags.
    """

    name = "headroom"
    summary = (
        "fusion + uni-modal losses, priority to modalities that are behind and still learning "
        "(within-epoch trend of the pre-step loss); a floor share for the rest (one backward)"
    )

    def __init__(
        self,
        gamma: float = 1.0,
        tracking: float = 0.1,
        threshold: float = 1.0,
        ramp: float = 2.0,
        floor: float = 0.2,
        memory: float = 0.5,
    ) -> None:
        self.gamma = check_real(gamma, "gamma", low=0.0)
        self.tracking = check_real(tracking, "tracking", low=0.0, high=1.0, low_open=True)
        self.memory = check_real(memory, "memory", low=0.0, high=1.0)
        # checked here so that a bad value fails when the method is built
        headroom_weights([1.0], [0.0], threshold=threshold, ramp=ramp, floor=floor)
        self.threshold, self.ramp, self.floor = float(threshold), float(ramp), float(floor)
        self.reset()

    def reset(self) -> None:
        """Forget everything tracked (a new run)."""
        self.step = 0
        self.epoch = 0
        self.index = 0  # the step's index within its epoch
        self.tracked: list[float] | None = None
        self.sums: list[list[float]] = []
        self.learnt: list[bool] = []
        self.gates: list[float] = []
        self.progress: list[float] = []

    def _new_epoch(self, epoch: int) -> None:
        decay = self.memory ** (epoch - self.epoch)
        for s in self.sums:
            n, sk, skk, sy, sky, syy = s[:6]
            if n > 0:
                s[6] += skk - sk * sk / n
                s[7] += sky - sk * sy / n
                s[8] += syy - sy * sy / n
                s[9] += n
                s[10] += 1.0
            s[:6] = [0.0] * 6
            s[6:] = [decay * v for v in s[6:]]
        self.epoch, self.index = epoch, 0

    def update(self, unimodal: Sequence[float], epoch: int) -> list[float]:
        """Track the uni-modal loss values of one step (before the step, on the current batch)
        of pass ``epoch`` over the training data; return the weights ``[w_0, w_1, ..., w_M]``.

        Raises:
            ValueError: a bad loss, an epoch before the current one, or a number of losses
                other than the tracked one's (call `reset`).
        """
        values = list(unimodal)
        # the per-step call gets Python floats (a tensor's tolist()): checked in one pass;
        # anything else (or a bad value) goes through check_real, which names it
        if not all(type(v) is float and 0.0 <= v < math.inf for v in values):
            values = [check_real(v, f"unimodal[{i}]", low=0.0) for i, v in enumerate(values)]
        epoch = check_int(epoch, "epoch", low=0)
        if not values:
            raise ValueError("unimodal must hold at least one loss, got none")
        if self.tracked is not None and len(self.tracked) != len(values):
            raise ValueError(
                f"headroom tracks {len(self.tracked)} modalities, got {len(values)} losses; "
                "call reset() for another model"
            )
        if epoch < self.epoch:
            raise ValueError(f"epoch must not go back: got {epoch} after {self.epoch}")
        if self.tracked is None:
            self.tracked = list(values)
            self.sums = [[0.0] * len(_SUMS) for _ in values]
            self.learnt = [False] * len(values)
            self.epoch, self.index = epoch, 0
        else:
            beta = self.tracking
            self.tracked = [
                (1 - beta) * u + beta * f for u, f in zip(self.tracked, values, strict=True)
            ]
        if epoch > self.epoch:
            self._new_epoch(epoch)
        k = float(self.index)
        for s, y in zip(self.sums, values, strict=True):
            s[0] += 1.0
            s[1] += k
            s[2] += k * k
            s[3] += y
            s[4] += k * y
            s[5] += y * y
        self.index += 1
        self.progress = [progress_statistic(s) for s in self.sums]
        full = self.threshold + self.ramp
        self.learnt = [f or z >= full for f, z in zip(self.learnt, self.progress, strict=True)]
        lam, self.gates = _priorities(
            self.tracked, self.progress, self.threshold, self.ramp, self.floor, self.learnt
        )
        self.step += 1
        scale = self.gamma * len(lam)
        return [1.0, *(scale * x for x in lam)]

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        packed = loss_values(fusion, uni)
        if _distributed.current().distributed:
            # the weights come from the whole step's mean losses, the same on every rank; the
            # trainer then averages .grad over the ranks, which is exact for fixed weights
            _distributed.all_reduce_mean_([packed])
        values = packed.cpu().tolist()  # the one device→host copy
        with Timer() as timer:
            w = self.update(values[1:], epoch)
        # ∇(f_0 + Σ w_m f_m) as the vector-Jacobian product of the stacked losses with w: one
        # stack node instead of 2M arithmetic nodes (and their backward)
        stacked = torch.stack([fusion, *uni])
        weights = torch.tensor(w, dtype=stacked.dtype).to(stacked.device, non_blocking=True)
        torch.autograd.backward(stacked, grad_tensors=weights)
        names = ("fusion", *model.modalities)
        info = {f"gate/{m}": g for m, g in zip(model.modalities, self.gates, strict=True)}
        info.update(
            {
                f"progress/{m}": max(-1e6, min(1e6, z))
                for m, z in zip(model.modalities, self.progress, strict=True)
            }
        )
        return report(
            model,
            fusion,
            uni,
            values=values,
            weights=dict(zip(names, w, strict=True)),
            rule_time=timer.seconds,
            info=info,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "index": self.index,
            "tracked": None if self.tracked is None else list(self.tracked),
            "sums": [list(s) for s in self.sums],
            "learnt": list(self.learnt),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        keys = ["epoch", "index", "learnt", "step", "sums", "tracked"]
        if sorted(state) != keys:
            raise ValueError(f"headroom state must have keys {keys}, got {sorted(state)}")
        tracked = state["tracked"]
        sums = [[float(v) for v in s] for s in state["sums"]]
        learnt = [bool(x) for x in state["learnt"]]
        m = 0 if tracked is None else len(tracked)
        if len(sums) != m or len(learnt) != m or any(len(s) != len(_SUMS) for s in sums):
            raise ValueError(
                f"headroom state must hold {m} rows of {len(_SUMS)} sums and {m} learnt flags, "
                f"got {len(sums)} rows and {len(learnt)} flags"
            )
        self.reset()
        self.step = check_int(state["step"], "state['step']", low=0)
        self.epoch = check_int(state["epoch"], "state['epoch']", low=0)
        self.index = check_int(state["index"], "state['index']", low=0)
        self.tracked = (
            None
            if tracked is None
            else [check_real(float(v), "state['tracked']", low=0.0) for v in tracked]
        )
        self.sums, self.learnt = sums, learnt
