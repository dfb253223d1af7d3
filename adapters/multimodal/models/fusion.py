"""Fusion modules: per-modality features ``{m: z_m (B, d_m)}`` to one fused vector ``(B, D)``.

A fusion consumes the modalities in the order of its ``dims``. The model puts a linear fusion
head ``ℓ(h) = W h + b`` on the fused vector. A fusion is *additive* when the fused vector is a
sum of per-modality parts, ``h = Σ_m p_m(z_m)``; then the fusion logits split exactly into
per-modality contributions ``c_m = W p_m(z_m) + b / M`` with ``Σ_m c_m = ℓ(h)``, the split that
OGM-GE (X. Peng, Y. Wei, A. Deng, D. Wang and D. Hu, "Balanced Multimodal Learning via On-the-fly
Gradient Modulation", CVPR 2022) scores modalities with.

Kinds (`FUSIONS`), built by `make_fusion`:

- ``"concat"``: ``h = [z_1; …; z_M]``, ``D = Σ_m d_m``; additive (``p_m`` places ``z_m`` in
  its block, so ``c_m = W_{:, block m} z_m + b / M``).
- ``"sum"``: ``h = Σ_m (A_m z_m + a_m)`` into ``D = out_dim``; additive.
- ``"gated"``: the gated multimodal unit (J. Arevalo, T. Solorio, M. Montes-y-Gómez and
  F. A. González, "Gated Multimodal Units for Information Fusion", ICLR 2017 workshop).
- ``"film"``: feature-wise linear modulation (E. Perez, F. Strub, H. de Vries, V. Dumoulin and
  A. Courville, "FiLM: Visual Reasoning with a General Conditioning Layer", AAAI 2018).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from moo.validation import check_int

__all__ = [
    "FUSIONS",
    "ConcatFusion",
    "FiLMFusion",
    "FusionModule",
    "GatedFusion",
    "SumFusion",
    "make_fusion",
]

FUSIONS: tuple[str, ...] = ("concat", "sum", "gated", "film")


def _check_dims(dims: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(dims, Mapping) or len(dims) == 0:
        raise ValueError("dims must be a non-empty mapping modality -> feature size")
    out: dict[str, int] = {}
    for m, d in dims.items():
        if not isinstance(m, str) or not m:
            raise ValueError(f"modality names must be non-empty strings, got {m!r}")
        out[m] = check_int(d, f"feature size of modality {m!r}", low=1)
    return out


def _check_out_dim(out_dim: Any, default: int, kind: str) -> int:
    if out_dim is None:
        return default
    return check_int(out_dim, f"fusion {kind!r}: out_dim", low=1)


class FusionModule(nn.Module):
    """Base class: ``forward({m: z_m}) -> h`` of shape ``(B, out_features)``.

    Attributes:
        kind: the registry name (``""`` for user subclasses; errors then use the class name).
        additive: ``h`` is a sum of per-modality parts, and `contributions` is defined.
        dims: ``{m: d_m}`` in the order the modalities are consumed.
        modalities: ``tuple(dims)``.
        out_features: ``D``, the width of ``h``.
    """

    kind: ClassVar[str] = ""
    additive: ClassVar[bool] = False

    def __init__(self, dims: Mapping[str, int]) -> None:
        super().__init__()
        self.dims: dict[str, int] = _check_dims(dims)
        self.modalities: tuple[str, ...] = tuple(self.dims)
        self.out_features: int = 0

    @property
    def name(self) -> str:
        """``kind``, or the class name for user subclasses."""
        return self.kind or type(self).__name__

    def ordered(self, features: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """The features in modality order; exactly this fusion's modalities are accepted."""
        if set(features) != set(self.modalities):
            missing = [m for m in self.modalities if m not in features]
            extra = sorted(str(m) for m in features if m not in self.dims)
            raise ValueError(
                f"fusion {self.name!r}: missing modalities {missing}, unexpected {extra}; "
                f"expected {list(self.modalities)}"
            )
        return [features[m] for m in self.modalities]

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def contributions(
        self, features: Mapping[str, torch.Tensor], head: nn.Linear
    ) -> dict[str, torch.Tensor]:
        """Per-modality shares ``c_m (B, C)`` of ``head(self(features))``, ``Σ_m c_m`` equal to
        it, the head bias split evenly (``b / M`` each). Additive fusions only.

        Raises:
            ValueError: the fusion is not additive (its logits have no per-modality split).
        """
        if not self.additive:
            raise ValueError(
                f"fusion {self.name!r} is not additive: its logits do not split into "
                f"per-modality contributions (additive fusions: concat, sum)"
            )
        raise NotImplementedError(f"fusion {self.name!r} is additive but defines no contributions")

    def _bias_share(self, head: nn.Linear) -> torch.Tensor | float:
        if head.in_features != self.out_features:
            raise ValueError(
                f"fusion {self.name!r}: head takes {head.in_features} inputs, the fusion gives "
                f"{self.out_features}"
            )
        return 0.0 if head.bias is None else head.bias / len(self.modalities)


class ConcatFusion(FusionModule):
    """``h = [z_1; …; z_M]`` (no parameters), ``out_features = Σ_m d_m``; additive.

    Contribution of ``m``: ``c_m = W_{:, block m} z_m + b / M``, the split of OGM-GE.
    """

    kind = "concat"
    additive = True

    def __init__(self, dims: Mapping[str, int]) -> None:
        super().__init__(dims)
        self.out_features = sum(self.dims.values())

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat(self.ordered(features), dim=1)

    def contributions(
        self, features: Mapping[str, torch.Tensor], head: nn.Linear
    ) -> dict[str, torch.Tensor]:
        zs = self.ordered(features)
        share = self._bias_share(head)
        out: dict[str, torch.Tensor] = {}
        start = 0
        for m, z in zip(self.modalities, zs, strict=True):
            stop = start + self.dims[m]
            out[m] = F.linear(z, head.weight[:, start:stop]) + share
            start = stop
        return out


class SumFusion(FusionModule):
    """``h = Σ_m (A_m z_m + a_m)``, one linear map per modality into ``out_dim``; additive.

    Contribution of ``m``: ``c_m = W (A_m z_m + a_m) + b / M``.

    Args:
        dims: ``{m: d_m}``.
        out_dim: ``D``, by default ``max_m d_m``.
    """

    kind = "sum"
    additive = True

    def __init__(self, dims: Mapping[str, int], out_dim: int | None = None) -> None:
        super().__init__(dims)
        self.out_features = _check_out_dim(out_dim, max(self.dims.values()), self.kind)
        self.projections = nn.ModuleDict(
            {m: nn.Linear(d, self.out_features) for m, d in self.dims.items()}
        )

    def _parts(self, features: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        zs = self.ordered(features)
        return [self.projections[m](z) for m, z in zip(self.modalities, zs, strict=True)]

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        parts = self._parts(features)
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out

    def contributions(
        self, features: Mapping[str, torch.Tensor], head: nn.Linear
    ) -> dict[str, torch.Tensor]:
        share = self._bias_share(head)
        parts = self._parts(features)
        return {
            m: F.linear(p, head.weight) + share for m, p in zip(self.modalities, parts, strict=True)
        }


class GatedFusion(FusionModule):
    """Gated multimodal unit (Arevalo et al. 2017), for any number of modalities.

    ``h_m = tanh(A_m z_m + a_m)`` (into ``out_dim``), gates from all features
    ``α = softmax_m(G [z_1; …; z_M] + g)``, ``h = Σ_m α_m ⊙ h_m``. Not additive (the gates
    depend on every modality).

    With ``gate="modality"`` (default) ``α_m`` is one scalar per sample and modality. With
    ``gate="unit"`` it is a vector over the ``out_dim`` units, softmax-normalized across
    modalities unit by unit: for ``M = 2`` this is the paper's bimodal GMU
    ``h = z ⊙ h_1 + (1 − z) ⊙ h_2`` with ``z = σ(W_z [x_1; x_2])`` (a sigmoid is a 2-way
    softmax), and for ``M > 2`` its per-modality gating normalized to sum to one.

    Args:
        dims: ``{m: d_m}``.
        out_dim: ``D``, by default ``max_m d_m``.
        gate: ``"modality"`` or ``"unit"``.
    """

    kind = "gated"
    additive = False
    GATES: ClassVar[tuple[str, ...]] = ("modality", "unit")

    def __init__(
        self, dims: Mapping[str, int], out_dim: int | None = None, gate: str = "modality"
    ) -> None:
        super().__init__(dims)
        if gate not in self.GATES:
            raise ValueError(
                f"fusion 'gated': unknown gate {gate!r}; valid: {', '.join(self.GATES)}"
            )
        self.gate_kind = gate
        self.out_features = _check_out_dim(out_dim, max(self.dims.values()), self.kind)
        self.projections = nn.ModuleDict(
            {m: nn.Linear(d, self.out_features) for m, d in self.dims.items()}
        )
        m_count = len(self.modalities)
        width = m_count if gate == "modality" else m_count * self.out_features
        self.gate = nn.Linear(sum(self.dims.values()), width)

    def gates(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``α``: ``(B, M, 1)`` (``gate="modality"``) or ``(B, M, D)``; sums to 1 over M."""
        zs = self.ordered(features)
        logits = self.gate(torch.cat(zs, dim=1))
        return torch.softmax(logits.view(logits.shape[0], len(self.modalities), -1), dim=1)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        zs = self.ordered(features)
        hs = torch.stack(
            [torch.tanh(self.projections[m](z)) for m, z in zip(self.modalities, zs, strict=True)],
            dim=1,
        )
        return (self.gates(features) * hs).sum(dim=1)


class FiLMFusion(FusionModule):
    """Feature-wise linear modulation (Perez et al. 2018) by a conditioning modality ``c``.

    ``γ = 1 + Γ z_c + g``, ``β = B z_c + e``, ``x = Σ_{m≠c} (A_m z_m + a_m)``,
    ``h = γ ⊙ x + β`` (all of width ``out_dim``). ``γ`` is predicted as an offset from one, as
    in the authors' code (``gamma_baseline = 1``), so that at initialization the modulation is
    close to the identity. Not additive (``γ ⊙ x`` multiplies modalities).

    Args:
        dims: ``{m: d_m}``, at least two modalities.
        out_dim: ``D``, by default ``max_m d_m``.
        condition: the conditioning modality, by default the first.
    """

    kind = "film"
    additive = False

    def __init__(
        self, dims: Mapping[str, int], out_dim: int | None = None, condition: str | None = None
    ) -> None:
        super().__init__(dims)
        if len(self.modalities) < 2:
            raise ValueError("fusion 'film' needs at least two modalities")
        if condition is None:
            condition = self.modalities[0]
        if condition not in self.dims:
            raise ValueError(
                f"fusion 'film': condition {condition!r} is not a modality; "
                f"modalities: {', '.join(self.modalities)}"
            )
        self.condition = condition
        self.out_features = _check_out_dim(out_dim, max(self.dims.values()), self.kind)
        d_c = self.dims[condition]
        self.gamma = nn.Linear(d_c, self.out_features)
        self.beta = nn.Linear(d_c, self.out_features)
        self.projections = nn.ModuleDict(
            {m: nn.Linear(d, self.out_features) for m, d in self.dims.items() if m != condition}
        )

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        zs = dict(zip(self.modalities, self.ordered(features), strict=True))
        z_c = zs[self.condition]
        x: torch.Tensor | None = None
        for m in self.modalities:
            if m == self.condition:
                continue
            p = self.projections[m](zs[m])
            x = p if x is None else x + p
        assert x is not None  # at least two modalities
        gamma: torch.Tensor = self.gamma(z_c)
        beta: torch.Tensor = self.beta(z_c)
        return (1.0 + gamma) * x + beta


_BUILDERS: dict[str, tuple[Callable[..., FusionModule], tuple[str, ...]]] = {
    "concat": (ConcatFusion, ()),
    "sum": (SumFusion, ()),
    "gated": (GatedFusion, ("gate",)),
    "film": (FiLMFusion, ("condition",)),
}


def make_fusion(
    kind: str, dims: Mapping[str, int], *, out_dim: int | None = None, **options: Any
) -> FusionModule:
    """Build a fusion of ``kind`` (one of `FUSIONS`) over modalities ``dims = {m: d_m}``.

    ``out_dim`` is the fused width ``D`` (``sum``, ``gated``, ``film``; default ``max_m d_m``);
    ``concat`` has none (its width is ``Σ_m d_m``). ``options``: ``gated``: ``gate``;
    ``film``: ``condition``.

    Raises:
        ValueError: unknown kind or option (the message lists the valid ones), invalid value,
            ``out_dim`` given to ``concat``.
    """
    if kind not in _BUILDERS:
        raise ValueError(f"unknown fusion {kind!r}; valid fusions: {', '.join(FUSIONS)}")
    builder, valid = _BUILDERS[kind]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(valid) if valid else "none"
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for fusion {kind!r}; "
            f"valid options: {listed}"
        )
    if kind == "concat":
        if out_dim is not None:
            raise ValueError(
                f"fusion 'concat' has no out_dim (its width is the sum of the feature sizes), "
                f"got out_dim={out_dim!r}"
            )
        return builder(dims, **options)
    return builder(dims, out_dim=out_dim, **options)
