"""The multimodal model: encoders, a fusion module, a fusion head and uni-modal heads.

For modalities ``m = 1..M`` with inputs ``x_m``: features ``z_m = E_m(x_m)`` (``d_m``), fusion
logits ``y_0 = W_0 F(z_1, …, z_M) + b_0`` and uni-modal logits ``y_m = W_m z_m + b_m``, all of
``C`` classes. The objectives of the adapter are ``f_0 = CE(y_0)`` and ``f_m = CE(y_m)``:
``f_m`` reaches only encoder ``m`` and head ``m``, ``f_0`` every encoder, the fusion and the
fusion head. The parameters split accordingly into disjoint groups, named by module (never by
parameter-name matching): `MultimodalModel.encoder_parameters`, `fusion_parameters`,
`head_parameters`, and `MultimodalModel.parameter_groups`, the trainable ones of every group at
once (what the training methods use).

Uni-modal heads follow the design of MMPareto (Y. Wei and D. Hu, "MMPareto: Boosting
Multimodal Learning with Innocent Unimodal Assistance", ICML 2024): a linear classifier on each
encoder's features, trained alongside the fusion head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .encoders import make_encoder
from .fusion import FusionModule, make_fusion

__all__ = ["ModelOutput", "MultimodalModel", "ParameterGroups", "build_model"]


@dataclass
class ModelOutput:
    """What `MultimodalModel.forward` returns.

    Attributes:
        fusion: fusion-head logits ``y_0`` ``(B, C)``.
        unimodal: uni-modal head logits ``y_m`` ``(B, C)`` per modality, in modality order.
        features: encoder outputs ``z_m`` ``(B, d_m)`` per modality; never detached here (the
            detach flags act on what the heads and the fusion see), so gradients can be taken
            at the encoder outputs.
    """

    fusion: torch.Tensor
    unimodal: dict[str, torch.Tensor]
    features: dict[str, torch.Tensor]


@dataclass(frozen=True)
class ParameterGroups:
    """A model's trainable parameters, grouped by the objectives that reach them.

    Made by `MultimodalModel.parameter_groups`: frozen parameters (``requires_grad=False``) are
    left out, every trainable parameter of the model is in exactly one group, and each group
    keeps the order of its module's ``parameters()``.

    Attributes:
        encoders: ``{modality: encoder m's parameters}`` in modality order (reached by ``f_0``
            and ``f_m``: the shared parameters of the objectives).
        fusion: the fusion module's and the fusion head's (reached by ``f_0`` only).
        heads: ``{modality: uni-modal head m's parameters}`` in modality order (reached by
            ``f_m`` only).
    """

    encoders: Mapping[str, tuple[nn.Parameter, ...]]
    fusion: tuple[nn.Parameter, ...]
    heads: Mapping[str, tuple[nn.Parameter, ...]]

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality names, in order."""
        return tuple(self.encoders)

    @property
    def shared(self) -> list[nn.Parameter]:
        """Every encoder's parameters, in modality order."""
        return [p for params in self.encoders.values() for p in params]

    @property
    def task(self) -> list[list[nn.Parameter]]:
        """The task parameters per objective ``[f_0, f_1, ..., f_M]``: the fusion module and
        head, then each uni-modal head."""
        return [list(self.fusion), *(list(params) for params in self.heads.values())]


def _names(items: Iterable[str]) -> str:
    return ", ".join(repr(m) for m in items)


class MultimodalModel(nn.Module):
    """Per-modality encoders, a fusion module with a linear fusion head, and one linear
    uni-modal head per modality.

    Args:
        encoders: ``{modality: encoder}`` in modality order, ``M >= 2``; each encoder is an
            ``nn.Module`` with an int attribute ``out_features`` (``d_m``) mapping
            ``(B, *shape_m)`` to ``(B, d_m)``. No parameter may be shared between encoders.
        num_classes: ``C >= 2``.
        fusion: a kind of `make_fusion` (``"concat"``, ``"sum"``, ``"gated"``, ``"film"``) or a
            built `FusionModule` over the same modalities, in the same order, with the same
            feature sizes.
        fusion_dim: the fused width ``D`` of a fusion built by kind (not for ``"concat"``).
        fusion_options: the fusion kind's options (``gated``: ``gate``; ``film``:
            ``condition``).

    Attributes:
        modalities: modality names in order.
        num_classes: ``C``.
        encoders: ``nn.ModuleDict`` of the encoders.
        fusion: the `FusionModule`.
        fusion_head: ``nn.Linear(fusion.out_features, C)``.
        heads: ``nn.ModuleDict`` of ``nn.Linear(d_m, C)``, the uni-modal heads.
    """

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        num_classes: int,
        fusion: str | FusionModule = "concat",
        *,
        fusion_dim: int | None = None,
        fusion_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(encoders, Mapping):
            raise TypeError(f"encoders must be a mapping modality -> nn.Module, got {encoders!r}")
        if len(encoders) < 2:
            raise ValueError(
                f"a multimodal model needs at least 2 modalities, got {len(encoders)}: "
                f"[{_names(encoders)}]"
            )
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        dims: dict[str, int] = {}
        for m, enc in encoders.items():
            if not isinstance(m, str) or not m or "." in m:
                raise ValueError(f"modality names must be non-empty strings without '.', got {m!r}")
            if not isinstance(enc, nn.Module):
                raise TypeError(f"encoder of modality {m!r} must be an nn.Module, got {enc!r}")
            d = getattr(enc, "out_features", None)
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise ValueError(
                    f"encoder of modality {m!r} needs a positive int attribute out_features, "
                    f"got {d!r}"
                )
            dims[m] = d
        self.modalities: tuple[str, ...] = tuple(encoders)
        self.num_classes: int = num_classes
        try:
            self.encoders = nn.ModuleDict(dict(encoders))
        except KeyError as exc:  # a name clashing with a ModuleDict attribute ("keys", ...)
            raise ValueError(f"invalid modality name: {exc}") from exc

        if isinstance(fusion, FusionModule):
            if fusion_dim is not None or fusion_options:
                raise ValueError(
                    "fusion_dim and fusion_options apply to a fusion built by kind, not to a "
                    f"given FusionModule ({fusion.name!r})"
                )
            if fusion.dims != dims or fusion.modalities != self.modalities:
                raise ValueError(
                    f"fusion {fusion.name!r} is built for {fusion.dims}, the encoders give {dims} "
                    "(same modalities, order and feature sizes required)"
                )
            self.fusion: FusionModule = fusion
        elif isinstance(fusion, str):
            self.fusion = make_fusion(
                fusion, dims, out_dim=fusion_dim, **dict(fusion_options or {})
            )
        else:
            raise TypeError(f"fusion must be a kind name or a FusionModule, got {fusion!r}")
        self.fusion_head = nn.Linear(self.fusion.out_features, num_classes)
        self.heads = nn.ModuleDict({m: nn.Linear(d, num_classes) for m, d in dims.items()})
        self._check_groups()

    # -- parameter groups -------------------------------------------------------------------

    def _modality(self, modality: str) -> str:
        if modality not in self.modalities:
            raise ValueError(
                f"unknown modality {modality!r}; the model's modalities: {_names(self.modalities)}"
            )
        return modality

    def encoder_parameters(self, modality: str) -> list[nn.Parameter]:
        """The parameters of encoder ``modality`` (those ``f_m`` and ``f_0`` reach in it)."""
        return list(self.encoders[self._modality(modality)].parameters())

    def fusion_parameters(self) -> list[nn.Parameter]:
        """The parameters of the fusion module and the fusion head (reached by ``f_0`` only)."""
        return [*self.fusion.parameters(), *self.fusion_head.parameters()]

    def head_parameters(self, modality: str) -> list[nn.Parameter]:
        """The parameters of uni-modal head ``modality`` (reached by ``f_m`` only)."""
        return list(self.heads[self._modality(modality)].parameters())

    def parameter_groups(self) -> ParameterGroups:
        """The trainable parameters of every group: `encoder_parameters`, `fusion_parameters`
        and `head_parameters` without the frozen ones (``requires_grad=False``).

        Every method that needs the shared/encoder/head split takes it from here, so frozen
        layers are left out in one place.

        Raises:
            ValueError: the groups overlap, or a trainable parameter of the model is in no
                group (a module added outside the encoders, the fusion and the heads would get
                no gradient from the methods that use the groups); the message names it.
        """

        def trainable(params: Iterable[nn.Parameter]) -> tuple[nn.Parameter, ...]:
            return tuple(p for p in params if p.requires_grad)

        groups = ParameterGroups(
            encoders={m: trainable(self.encoder_parameters(m)) for m in self.modalities},
            fusion=trainable(self.fusion_parameters()),
            heads={m: trainable(self.head_parameters(m)) for m in self.modalities},
        )
        ids = [id(p) for params in groups.task for p in params] + [id(p) for p in groups.shared]
        if len(set(ids)) != len(ids):
            raise ValueError(
                "the model's encoder, fusion and head parameter groups overlap; each parameter "
                "must belong to one group"
            )
        known = set(ids)
        missing = [n for n, p in self.named_parameters() if p.requires_grad and id(p) not in known]
        if missing:
            more = " ..." if len(missing) > 5 else ""
            raise ValueError(
                "trainable parameters outside the encoder, fusion and head groups would get no "
                f"gradient: {missing[:5]}{more}; freeze them or add them to a group"
            )
        return groups

    def _check_groups(self) -> None:
        """The groups must be disjoint (a module shared between encoders would break it)."""
        owner: dict[int, str] = {}
        groups: list[tuple[str, list[nn.Parameter]]] = [
            *((f"encoder {m!r}", self.encoder_parameters(m)) for m in self.modalities),
            ("fusion", self.fusion_parameters()),
            *((f"head {m!r}", self.head_parameters(m)) for m in self.modalities),
        ]
        for group, params in groups:
            for p in params:
                other = owner.setdefault(id(p), group)
                if other != group:
                    raise ValueError(
                        f"a parameter is shared between {other} and {group}: parameter groups "
                        "must be disjoint"
                    )

    # -- forward ----------------------------------------------------------------------------

    def _check_inputs(self, inputs: Mapping[str, torch.Tensor]) -> None:
        if not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must be a mapping modality -> tensor, got {type(inputs)}")
        missing = [m for m in self.modalities if m not in inputs]
        extra = [m for m in inputs if m not in self.modalities]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing modalities {_names(missing)}")
            if extra:
                parts.append(f"unexpected modalities {_names(map(str, extra))}")
            raise ValueError(
                f"{'; '.join(parts)}; the model's modalities: {_names(self.modalities)}"
            )
        sizes: dict[str, int] = {}
        for m in self.modalities:
            x = inputs[m]
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"input of modality {m!r} must be a tensor, got {type(x).__name__}")
            if x.ndim == 0:
                raise ValueError(f"input of modality {m!r} has no batch dimension")
            sizes[m] = x.shape[0]
        if len(set(sizes.values())) > 1:
            raise ValueError(f"batch sizes differ between modalities: {sizes}")

    def _encode(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._check_inputs(inputs)
        features: dict[str, torch.Tensor] = {}
        for m in self.modalities:
            x = inputs[m]
            try:
                z = self.encoders[m](x)
            except ValueError as exc:
                raise ValueError(f"modality {m!r}: {exc}") from exc
            expected = (x.shape[0], self.fusion.dims[m])
            if not isinstance(z, torch.Tensor) or tuple(z.shape) != expected:
                got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                raise ValueError(
                    f"modality {m!r}: encoder output must have shape {expected}, got {got}"
                )
            features[m] = z
        return features

    def encode(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Encoder features ``{m: z_m (B, d_m)}`` only (no heads, no fusion)."""
        return self._encode(inputs)

    def forward(
        self,
        inputs: Mapping[str, torch.Tensor],
        *,
        detach_unimodal: bool = False,
        detach_fusion: bool = False,
    ) -> ModelOutput:
        """Encode every modality, fuse, and apply the fusion head and the uni-modal heads.

        Args:
            inputs: exactly the model's modalities, tensors with equal batch sizes ``B``.
            detach_unimodal: the uni-modal heads see ``z_m.detach()``: their losses train the
                heads only (probes), never the encoders.
            detach_fusion: the fusion module sees ``z_m.detach()``: the fusion loss trains the
                fusion and its head only.

        Raises:
            ValueError: missing or unexpected modalities, unequal batch sizes, an input of the
                wrong shape (the message names the modality).
            TypeError: a non-tensor input.
        """
        features = self._encode(inputs)
        to_fusion = {m: z.detach() for m, z in features.items()} if detach_fusion else features
        fused = self.fusion(to_fusion)
        unimodal = {
            m: self.heads[m](z.detach() if detach_unimodal else z) for m, z in features.items()
        }
        return ModelOutput(fusion=self.fusion_head(fused), unimodal=unimodal, features=features)

    def contributions(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each modality's share ``c_m (B, C)`` of the fusion logits, for additive fusions.

        ``Σ_m c_m`` equals the fusion logits ``W_0 F(z) + b_0``; the bias is split evenly
        (``b_0 / M`` each), as in OGM-GE (concat: ``c_m = W_{0, :, block m} z_m + b_0 / M``).

        Raises:
            ValueError: the fusion is not additive (``gated``, ``film``), or ``features`` does
                not hold exactly the model's modalities.
        """
        if not isinstance(features, Mapping) or set(features) != set(self.modalities):
            got = list(features) if isinstance(features, Mapping) else type(features).__name__
            raise ValueError(
                f"features must hold exactly the model's modalities {_names(self.modalities)}, "
                f"got {got}"
            )
        return self.fusion.contributions(features, self.fusion_head)


def build_model(
    input_shapes: Mapping[str, Sequence[int]],
    num_classes: int,
    *,
    encoder: str | Mapping[str, str] = "mlp",
    encoder_options: Mapping[str, Mapping[str, Any]] | None = None,
    fusion: str = "concat",
    fusion_dim: int | None = None,
    fusion_options: Mapping[str, Any] | None = None,
) -> MultimodalModel:
    """A `MultimodalModel` with encoders made by `make_encoder`.

    Args:
        input_shapes: ``{modality: trailing input shape}`` in modality order.
        num_classes: ``C >= 2``.
        encoder: one encoder kind for every modality, or ``{modality: kind}`` for all of them.
        encoder_options: ``{modality: options}`` passed to `make_encoder` (any subset of the
            modalities).
        fusion: the fusion kind.
        fusion_dim: the fused width (not for ``"concat"``).
        fusion_options: the fusion kind's options (``gated``: ``gate``; ``film``:
            ``condition``).

    Raises:
        ValueError: modalities of ``encoder`` / ``encoder_options`` that are not in
            ``input_shapes`` (or, for a mapping ``encoder``, missing), and whatever
            `make_encoder`, `make_fusion` and `MultimodalModel` reject.
    """
    if not isinstance(input_shapes, Mapping):
        raise TypeError("input_shapes must be a mapping modality -> shape")
    modalities = list(input_shapes)
    if isinstance(encoder, str):
        kinds = dict.fromkeys(modalities, encoder)
    elif isinstance(encoder, Mapping):
        missing = [m for m in modalities if m not in encoder]
        extra = [m for m in encoder if m not in input_shapes]
        if missing or extra:
            raise ValueError(
                f"encoder kinds: missing modalities [{_names(missing)}], unexpected "
                f"[{_names(map(str, extra))}]; modalities: {_names(modalities)}"
            )
        kinds = {m: encoder[m] for m in modalities}
    else:
        raise TypeError(f"encoder must be a kind or a mapping modality -> kind, got {encoder!r}")
    options = dict(encoder_options or {})
    extra = [m for m in options if m not in input_shapes]
    if extra:
        raise ValueError(
            f"encoder_options for unknown modalities [{_names(map(str, extra))}]; "
            f"modalities: {_names(modalities)}"
        )
    encoders: dict[str, nn.Module] = {}
    for m in modalities:
        try:
            encoders[m] = make_encoder(kinds[m], input_shapes[m], **dict(options.get(m, {})))
        except ValueError as exc:
            raise ValueError(f"modality {m!r}: {exc}") from exc
    return MultimodalModel(
        encoders, num_classes, fusion, fusion_dim=fusion_dim, fusion_options=fusion_options
    )
