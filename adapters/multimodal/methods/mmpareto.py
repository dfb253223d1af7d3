"""MMPareto: Pareto integration of the fusion and uni-modal gradients on each encoder.

Reference:
    Y. Wei and D. Hu, "MMPareto: Boosting Multimodal Learning with Innocent Unimodal
    Assistance", in Proceedings of the 41st International Conference on Machine Learning
    (ICML), PMLR 235, 2024. arXiv:2405.17730. Reference code:
    https://github.com/GeWu-Lab/MMPareto_ICML2024 (``code/MMPareto.py``).

The encoders learn from the fusion loss ``f_0`` and from their own uni-modal loss ``f_m``.
For encoder m with parameters ``θ_m`` (flattened over its tensors):

    g_mm = ∇_{θ_m} f_0,   g_u = ∇_{θ_m} f_m,
    α = (1/2, 1/2)                                  if cos(g_mm, g_u) > 0,
    α = argmin_{α ∈ Δ} ||α_0 g_mm + α_1 g_u||²      otherwise (MGDA, closed form for two
                                                    gradients: α_0 = clip((g_u·g_u − g_mm·g_u)
                                                    / ||g_mm − g_u||², 0, 1)),

then, per parameter tensor t of encoder m,

    new_t = 2 (α_0 g_mm,t + α_1 g_u,t),   r_t = ||g_mm,t + g_u,t|| / ||new_t||,
    grad_t = γ r_t new_t  if r_t > 1,  else γ new_t.

``g_mm,t + g_u,t`` is the plain gradient of ``f_0 + Σ_m f_m`` on that tensor, so the rescale
restores at least its magnitude (the paper's argument: the min-norm combination shrinks the
gradient, which would lose SGD's generalization-helping noise); ``γ`` is the reference code's
extra factor, 1.5. The fusion module, the fusion head and the uni-modal heads receive the
ordinary gradient of ``f_0 + Σ_m f_m``.

Where this implementation follows the reference code or departs from it:

- The per-tensor rescale and ``γ = 1.5`` are the reference code's (the paper describes the
  magnitude restoration in words); the strict ``cos > 0`` test is the code's.
- The min-norm weights come from moo's exact `MGDA` on the 2×2 Gramian. In the conflict branch
  (``g_mm·g_u <= 0`` with both gradients non-zero) the minimizer is interior, so this equals the
  reference ``MinNormSolver`` exactly.
- Zero gradients: when ``g_mm`` or ``g_u`` is zero on an encoder the cosine is undefined; this
  implementation uses ``α = (1/2, 1/2)`` and reports ``cos = 0`` (the reference's
  ``F.cosine_similarity`` returns 0 there, which sends it to its solver). When
  ``||new_t|| = 0`` the ratio is taken as ``r_t = 1`` (the reference divides by zero). Gradients
  that autograd returns as ``None`` (parameters a loss does not reach) count as zero.
- With ``α = (1/2, 1/2)``, ``new_t = g_mm,t + g_u,t`` and ``r_t = 1`` exactly, so the step writes
  ``γ (g_mm,t + g_u,t)`` without computing the norms.
- Frozen parameters (``requires_grad=False``) take no part: the groups come from
  `MultimodalModel.parameter_groups`, which leaves them out.
- Cost: the reference runs one backward pass per loss (M + 1). Here the per-encoder gradients
  take **two** passes whatever M is: ``autograd.grad(f_0, encoders + fusion)`` and
  ``autograd.grad(Σ_m f_m, encoders + heads)``; since ``f_m`` reaches only encoder m and head
  m, the second pass gives every ``g_u`` at once.
- Several processes (`torch.distributed`, each rank holding a shard of the batch): the two
  passes' gradients and the loss values are averaged over the ranks (one collective per
  dtype) before the cosines, so every rank takes the same decisions and writes the same
  ``.grad`` as one process on the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from moo.solvers import MGDA
from moo.validation import check_real
from moo_multimodal import _distributed
from moo_multimodal.methods._base import (
    Method,
    StepReport,
    Timer,
    loss_values,
    losses,
    parameter_groups,
    report,
)
from moo_multimodal.methods._registry import register_method

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput, MultimodalModel

Grads = Sequence[torch.Tensor | None]


@register_method
class MMPareto(Method):
    """MMPareto (Wei & Hu, ICML 2024): per-encoder MGDA of fusion and uni-modal gradients.

    Math (see the module docstring): on each encoder, ``α = (1/2, 1/2)`` if the fusion and
    uni-modal gradients agree (``cos > 0``), else their min-norm weights on the simplex; then per
    tensor ``new = 2(α_0 g_mm + α_1 g_u)``, rescaled by ``max(1, ||g_mm + g_u|| / ||new||)``
    and by ``γ``. Fusion and heads get the plain gradient of ``f_0 + Σ_m f_m``.

    Args:
        gamma: ``γ > 0``, the final scale of the encoder gradients (reference code: 1.5).

    ``StepReport.weights`` holds ``α_1`` (the uni-modal weight) per modality; ``info`` holds
    ``cos_<m>`` (0 when a gradient is zero); ``rule_time`` is the time of the cosines, the MGDA
    solves and the rescale (host wall time: on a GPU the rescale kernels may still be queued).
    """

    name = "mmpareto"
    summary = "MMPareto (Wei & Hu 2024): per-encoder MGDA of fusion/uni-modal grads on conflict"
    detach_unimodal = False
    detach_fusion = False
    reduces_over_ranks = True

    def __init__(self, gamma: float = 1.5) -> None:
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        self._mgda = MGDA()

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        groups = parameter_groups(model)  # trainable only; raises on parameters outside
        modalities = groups.modalities
        encoders = groups.encoders
        enc_all = groups.shared
        fusion_params = list(groups.fusion)
        heads = [p for m in modalities for p in groups.heads[m]]
        n = len(enc_all)

        # Two passes whatever M is: the uni-modal parts of Σ f_m are disjoint per encoder.
        from_fusion = _grad(fusion, [*enc_all, *fusion_params], retain_graph=True)
        from_uni = _grad(torch.stack(uni).sum(), [*enc_all, *heads], retain_graph=False)
        values_dev = loss_values(fusion, uni)
        if _distributed.current().distributed:  # the whole batch's gradients and losses
            _distributed.all_reduce_mean_(
                [*(g for g in (*from_fusion, *from_uni) if g is not None), values_dev]
            )

        with Timer() as timer:
            g_mm: dict[str, Grads] = {}
            g_u: dict[str, Grads] = {}
            start = 0
            for m in modalities:
                stop = start + len(encoders[m])
                g_mm[m], g_u[m] = from_fusion[start:stop], from_uni[start:stop]
                start = stop
            # one host copy: the (M, 3) products ||g_mm||², ||g_u||², g_mm·g_u and the losses
            dots_dev = torch.stack([_dots(g_mm[m], g_u[m], fusion.device) for m in modalities])
            packed = torch.cat([dots_dev.flatten(), values_dev]).cpu().tolist()
            n_dots = 3 * len(modalities)
            dots = [packed[i : i + 3] for i in range(0, n_dots, 3)]
            values = packed[n_dots:]
            weights: dict[str, float] = {}
            info: dict[str, float] = {}
            new_grads: list[torch.Tensor | None] = []
            for m, (aa, bb, ab) in zip(modalities, dots, strict=True):
                defined = aa > 0.0 and bb > 0.0
                cos = ab / math.sqrt(aa * bb) if defined else 0.0
                if defined and cos <= 0.0:
                    gram = np.array([[aa, ab], [ab, bb]])
                    alpha = self._mgda.weights(gram, np.zeros(2)).weights  # losses unused
                    a0, a1 = float(alpha[0]), float(alpha[1])
                else:
                    a0 = a1 = 0.5
                weights[m] = a1
                info[f"cos_{m}"] = cos
                new_grads.extend(
                    _combine(a, b, a0, a1, self.gamma) for a, b in zip(g_mm[m], g_u[m], strict=True)
                )

        for p, g in zip(enc_all, new_grads, strict=True):
            _accumulate(p, g)
        for p, g in zip(fusion_params, from_fusion[n:], strict=True):
            _accumulate(p, g)
        for p, g in zip(heads, from_uni[n:], strict=True):
            _accumulate(p, g)
        return report(
            model,
            fusion,
            uni,
            values=values,
            weights=weights,
            rule_time=timer.seconds,
            info=info,
        )


def _grad(
    loss: torch.Tensor, inputs: list[torch.nn.Parameter], *, retain_graph: bool
) -> list[torch.Tensor | None]:
    """``∂loss/∂inputs`` in one pass; ``None`` where the loss does not reach a parameter."""
    if not inputs or not loss.requires_grad:
        return [None] * len(inputs)
    return list(torch.autograd.grad(loss, inputs, retain_graph=retain_graph, allow_unused=True))


def _dots(a: Grads, b: Grads, device: torch.device) -> torch.Tensor:
    """``(a·a, b·b, a·b)`` over the tensors of one encoder, float64, ``None`` as zero."""
    rows: list[torch.Tensor] = []
    for x, y in zip(a, b, strict=True):
        if x is not None and y is not None:
            xf, yf = _flat(x), _flat(y)
            rows.append(torch.stack([xf @ xf, yf @ yf, xf @ yf]).double())
        elif x is not None or y is not None:  # one gradient is None: zero
            one = x if x is not None else y
            assert one is not None
            v = _flat(one)
            vv = (v @ v).double()
            zero = torch.zeros_like(vv)
            rows.append(torch.stack([vv, zero, zero] if x is not None else [zero, vv, zero]))
    if not rows:
        return torch.zeros(3, dtype=torch.float64, device=device)
    return torch.stack(rows).sum(0).to(device)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a vector in at least float32 (half-precision gradients are upcast)."""
    x = x.reshape(-1)
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _combine(
    a: torch.Tensor | None, b: torch.Tensor | None, a0: float, a1: float, gamma: float
) -> torch.Tensor | None:
    """``γ · max(1, ||a + b|| / ||new||) · new`` with ``new = 2(α_0 a + α_1 b)``, per tensor."""
    if a is None:
        if b is None:
            return None
        a = torch.zeros_like(b)
    elif b is None:
        b = torch.zeros_like(a)
    plain = a + b
    if a0 == 0.5 and a1 == 0.5:  # new = a + b, r = 1
        return plain.mul_(gamma)
    new = (2.0 * a0) * a + (2.0 * a1) * b
    new_norm = torch.linalg.vector_norm(new)
    positive = new_norm > 0
    ratio = torch.where(
        positive, torch.linalg.vector_norm(plain) / torch.where(positive, new_norm, 1.0), 1.0
    )
    scale = torch.where(ratio > 1.0, ratio, 1.0) * gamma
    return new.mul_(scale)


def _accumulate(p: torch.nn.Parameter, g: torch.Tensor | None) -> None:
    """Add ``g`` to ``p.grad`` as ``backward`` would (set it when there is none)."""
    if g is None:
        return
    if p.grad is None:
        p.grad = g
    else:
        p.grad.add_(g)
