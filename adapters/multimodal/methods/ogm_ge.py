"""OGM-GE: on-the-fly gradient modulation with generalization enhancement.

Reference:
    X. Peng, Y. Wei, A. Deng, D. Wang and D. Hu, "Balanced Multimodal Learning via On-the-fly
    Gradient Modulation", in Proceedings of the IEEE/CVF Conference on Computer Vision and
    Pattern Recognition (CVPR), 2022, pp. 8238-8247. arXiv:2203.15332. Reference code:
    https://github.com/GeWu-Lab/OGM-GE_CVPR2022 (``main.py``).

The encoders learn from the fusion loss ``f_0`` only; the uni-modal heads are probes on
detached features (``f_m`` reaches head m only). After the backward pass of
``f_0 + Σ_m f_m``, the gradient of every encoder is scaled by a coefficient that slows down the
modality that currently dominates the fusion:

    s_m = Σ_i softmax(o_m(x_i))[y_i]                     (contribution score, no gradient)
    ρ_m = s_m / mean_{j≠m} s_j                            (discrepancy ratio)
    k_m = 1 − tanh(α ρ_m)  if ρ_m > 1,  else 1           (paper Eq. 10)
    g_m ← k_m g_m + h,   h ~ N(0, (std(g_m) + 1e-8)² I)    (GE; per parameter tensor)

where ``o_m`` is modality m's additive share of the fusion logits (for concatenation,
``W[:, block_m] z_m + b / M``), as in the paper.

Where this implementation follows the reference code or generalizes it:

- **M modalities.** The paper and its code handle two modalities (``ρ_a = s_a / s_v``). This
  project uses ``ρ_m = s_m / mean_{j≠m} s_j``, which equals the paper's ratio for M = 2. With
  M > 2 several modalities can have ``ρ_m > 1`` and are then all slowed down.
- **Ties.** With two modalities the reference code modulates one of them even when
  ``s_a = s_v`` (its ``else`` branch); here, as in the paper's Eq. 10, ``ρ_m = 1`` gives
  ``k_m = 1``. The code's ``tanh(α·relu(ρ))`` equals ``tanh(α ρ)`` for the ``ρ > 0`` used here.
- **Which tensors.** The reference code modulates only the 4-D (convolution) weights of its
  ResNet encoders; here every gradient tensor of ``model.encoder_parameters(m)`` is modulated,
  because the project's encoders need not be convolutional. ``only_conv=True`` restores the
  reference behaviour (only tensors with ``ndim == 4``).
- **GE noise.** As in the current reference code (the version marked "bug fixed"), the noise is
  added to every modulated tensor of every modality (also where ``k_m = 1``), and its standard
  deviation is that of the *unmodulated* gradient tensor's entries, plus ``1e-8``. A
  one-element tensor has no sample standard deviation: its noise scale is ``1e-8``. The noise
  comes from a ``torch.Generator`` owned by the method (one per device, seeded with ``seed``),
  whose state is part of `OGMGE.state_dict`, so a resumed run draws the same noise.
- **Window.** Modulation and noise apply for ``modulation_starts <= epoch <= modulation_ends``
  (reference defaults 0 and 50); outside it the step is plain joint training.
- **Several processes** (`torch.distributed`, each rank holding a shard of the batch): the
  scores ``s_m`` are sums over the samples, so they are summed over the ranks, and the loss
  values averaged, in one collective; the gradient of the backward pass is averaged over
  the ranks (as DistributedDataParallel does) *before* it is modulated and noised. Every
  rank then holds the same ``g_m``, the same ``k_m`` and, its noise generator being seeded
  alike, the same noise: the step is the one-process step on the whole batch.
- **Non-additive fusions** (gated, FiLM) have no per-modality share of the logits. With
  ``scores="auto"`` the uni-modal heads' logits (probes on detached features) give the scores
  instead; ``scores="heads"`` always uses them; ``scores="fusion"`` requires an additive fusion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from moo.validation import check_bool, check_choice, check_int, check_real
from moo_multimodal import _distributed
from moo_multimodal.methods._base import (
    Method,
    StepReport,
    Timer,
    loss_values,
    losses,
    report,
)
from moo_multimodal.methods._registry import register_method

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput, MultimodalModel

ScoreSource = Literal["auto", "fusion", "heads"]
SCORE_SOURCES: tuple[str, ...] = ("auto", "fusion", "heads")


def contribution_score(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``s = Σ_i softmax(logits_i)[y_i]``: the summed probability of the true class (0-d tensor).

    The softmax is taken in at least float32.
    """
    probs = torch.softmax(logits.detach().float(), dim=-1)
    return probs.gather(1, labels.reshape(-1, 1)).sum()


def ogm_coefficients(scores: Sequence[float], alpha: float) -> tuple[list[float], list[float]]:
    """Discrepancy ratios and modulation coefficients from the M contribution scores.

    ``ρ_m = s_m / mean_{j≠m} s_j`` and ``k_m = 1 − tanh(α ρ_m)`` if ``ρ_m > 1`` else ``1``.
    A zero denominator gives ``ρ_m = inf`` (``k_m = 0``) when ``s_m > 0`` and ``ρ_m = 1``
    (no modulation) when ``s_m = 0`` too.

    Returns:
        ``(ratios, coefficients)``, each a list of M floats.
    """
    m = len(scores)
    if m < 2:
        raise ValueError(f"OGM-GE needs at least two modalities, got {m} score(s)")
    total = math.fsum(scores)
    ratios: list[float] = []
    coeffs: list[float] = []
    for s in scores:
        others = (total - s) / (m - 1)
        if others > 0.0:
            rho = s / others
        else:
            rho = math.inf if s > 0.0 else 1.0
        ratios.append(rho)
        coeffs.append(1.0 - math.tanh(alpha * rho) if rho > 1.0 else 1.0)
    return ratios, coeffs


@register_method
class OGMGE(Method):
    """OGM-GE (Peng et al., CVPR 2022): slow down the dominant modality's encoder.

    Math (see the module docstring for the details and the deviations from the reference):
    ``ρ_m = s_m / mean_{j≠m} s_j``, ``k_m = 1 − tanh(α ρ_m)`` if ``ρ_m > 1`` else ``1``, and
    the encoder gradients become ``k_m g + N(0, (std(g) + 1e-8)²)`` per tensor (``ge=True``) or
    ``k_m g`` (``ge=False``: plain OGM). Fusion module, fusion head and uni-modal heads get their
    ordinary gradients.

    Args:
        alpha: ``α > 0`` of Eq. 10. Default 0.1, the reference README's "default modulation
            setting" (it recommends 0.1 for VGGSound and 0.8 for CREMA-D; the authors' scripts
            use 0.1-0.8): the mildest documented value, which slows a dominant modality with
            ``ρ = 2`` to ``k ≈ 0.80`` instead of freezing it (``k ≈ 0.08`` at ``α = 0.8``).
        modulation_starts: first epoch (from 0) with modulation; reference default 0.
        modulation_ends: last epoch with modulation (inclusive); reference default 50.
        ge: add the generalization-enhancement noise (OGM-GE); ``False`` is plain OGM.
        only_conv: modulate only 4-D (convolution) weight tensors, as the reference code does.
        scores: where the scores come from: ``"fusion"`` (the modality's share of the fusion
            logits, the paper; additive fusions only), ``"heads"`` (the uni-modal heads'
            logits), ``"auto"`` (fusion if additive, else heads).
        seed: seed of the method's noise generator.

    ``StepReport.weights`` holds ``k_m`` per modality (1 outside the window); ``info`` holds
    ``ratio_<m>`` and ``modulated`` (1.0 inside the window); ``rule_time`` is the time of the
    scores and coefficients.
    """

    name = "ogm-ge"
    summary = "OGM-GE (Peng et al. 2022): scale down the dominant encoder's gradient, add noise"
    detach_unimodal = True
    detach_fusion = False
    reduces_over_ranks = True

    def __init__(
        self,
        alpha: float = 0.1,
        modulation_starts: int = 0,
        modulation_ends: int = 50,
        ge: bool = True,
        only_conv: bool = False,
        scores: ScoreSource = "auto",
        seed: int = 0,
    ) -> None:
        self.alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
        self.modulation_starts = check_int(modulation_starts, "modulation_starts", low=0)
        self.modulation_ends = check_int(modulation_ends, "modulation_ends", low=0)
        if self.modulation_ends < self.modulation_starts:
            raise ValueError(
                f"modulation_ends must be >= modulation_starts ({self.modulation_starts}), "
                f"got {self.modulation_ends}"
            )
        self.ge = check_bool(ge, "ge")
        self.only_conv = check_bool(only_conv, "only_conv")
        self.scores: ScoreSource = check_choice(  # type: ignore[assignment]
            scores, "scores", SCORE_SOURCES
        )
        self.seed = _check_seed(seed, "seed")
        self._generators: dict[str, torch.Generator] = {}
        self._pending: dict[str, torch.Tensor] = {}

    # -- scores ---------------------------------------------------------------------------

    def _score_logits(
        self, model: MultimodalModel, output: ModelOutput
    ) -> tuple[Mapping[str, torch.Tensor], str]:
        """Per-modality logits for the scores and which source gave them."""
        if self.scores != "heads":
            try:
                with torch.no_grad():
                    return model.contributions(output.features), "fusion"
            except ValueError as exc:
                if self.scores == "fusion":
                    raise ValueError(
                        "ogm-ge: scores='fusion' needs an additive fusion (concat, sum) whose "
                        f"logits split per modality, but the model's fusion does not ({exc}); "
                        "use scores='heads' (uni-modal heads' logits) or scores='auto'"
                    ) from exc
        return output.unimodal, "heads"

    # -- noise ----------------------------------------------------------------------------

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            pending = self._pending.pop(key, None)
            if pending is None:
                gen.manual_seed(self.seed)
            else:
                gen.set_state(pending)
            self._generators[key] = gen
        return gen

    def _noise(self, grad: torch.Tensor) -> torch.Tensor:
        """``N(0, (std(grad) + 1e-8)²)`` noise shaped like ``grad``, from the method's generator."""
        if grad.numel() > 1:
            std = grad.std() + 1e-8
        else:
            std = grad.new_full((), 1e-8)
        eps = torch.randn(
            grad.shape, generator=self._generator(grad.device), device=grad.device, dtype=grad.dtype
        )
        return eps * std

    # -- the step -------------------------------------------------------------------------

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        modalities = tuple(model.modalities)
        with Timer() as timer:
            logits, source = self._score_logits(model, output)
            scores = torch.stack([contribution_score(logits[m], labels) for m in modalities])
            both = torch.cat([scores.double(), loss_values(fusion, uni)])
            ranks = _distributed.current()
            if ranks.distributed:
                # the scores are sums over the samples (summed over the ranks), the losses
                # means (averaged): one collective
                both[len(modalities) :] /= ranks.world_size
                _distributed.all_reduce_sum_(both)
            # one host copy: the scores and the losses
            packed = both.cpu().tolist()
            ratios, coeffs = ogm_coefficients(packed[: len(modalities)], self.alpha)
        active = self.modulation_starts <= epoch <= self.modulation_ends
        if not active:
            coeffs = [1.0] * len(modalities)

        # The tensors to modulate; their earlier .grad (gradient accumulation) is set aside so
        # that only this step's gradient is scaled and noised.
        targets: list[tuple[torch.nn.Parameter, float, torch.Tensor | None]] = []
        if active and (self.ge or any(k != 1.0 for k in coeffs)):
            for m, k in zip(modalities, coeffs, strict=True):
                for p in model.encoder_parameters(m):
                    if not p.requires_grad or (self.only_conv and p.ndim != 4):
                        continue
                    targets.append((p, k, p.grad))
                    p.grad = None

        torch.autograd.backward(fusion + torch.stack(uni).sum())
        if ranks.distributed:  # the whole batch's gradient, before it is modulated
            _distributed.average_gradients(model.parameters())

        for p, k, previous in targets:
            g = p.grad
            if g is None:  # not reached by the fusion loss
                p.grad = previous
                continue
            noise = self._noise(g) if self.ge else None  # std of the unmodulated gradient
            if k != 1.0:
                g.mul_(k)
            if noise is not None:
                g.add_(noise)
            if previous is not None:
                p.grad = previous.add_(g)

        info = {f"ratio_{m}": r for m, r in zip(modalities, ratios, strict=True)}
        info["modulated"] = 1.0 if active else 0.0
        info["scores_from_heads"] = 1.0 if source == "heads" else 0.0
        return report(
            model,
            fusion,
            uni,
            values=packed[len(modalities) :],
            weights=dict(zip(modalities, coeffs, strict=True)),
            rule_time=timer.seconds,
            info=info,
        )

    # -- checkpoints ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The noise stream: the seed and each device generator's state (CPU byte tensors)."""
        states = {key: gen.get_state() for key, gen in self._generators.items()}
        states.update({key: s.clone() for key, s in self._pending.items()})
        return {"seed": self.seed, "generators": states}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict`'s output: the seed and the generators' states.

        Generators of devices not used yet in this process take their state when first used.
        """
        keys = set(state)
        if keys != {"seed", "generators"}:
            raise ValueError(
                f"method {self.name!r}: state must have keys ['generators', 'seed'], "
                f"got {sorted(keys)}"
            )
        seed = _check_seed(state["seed"], "state['seed']")
        generators = state["generators"]
        if not isinstance(generators, Mapping):
            raise ValueError(
                f"method {self.name!r}: state['generators'] must be a mapping device -> state, "
                f"got {type(generators).__name__}"
            )
        self.seed = seed
        self._generators = {}
        self._pending = {}
        for key, value in generators.items():
            if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8:
                raise ValueError(
                    f"method {self.name!r}: state['generators'][{key!r}] must be a uint8 tensor "
                    f"(torch.Generator.get_state()), got {value!r}"
                )
            self._pending[str(key)] = value.detach().cpu().clone()


def _check_seed(value: Any, name: str) -> int:
    seed = check_int(value, name, low=0)
    if seed >= 2**64:
        raise ValueError(f"{name} must be < 2**64 (a torch.Generator seed), got {seed}")
    return seed
