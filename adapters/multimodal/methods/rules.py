"""moo's update rules as multimodal training methods, through `moo.torch.backward`.

Objectives ``[f_0, f_1, ..., f_M]`` (fusion loss, then one uni-modal loss per modality, in the
model's modality order). The shared parameters are the encoders; the fusion module and head
are the task parameters of ``f_0`` and head ``m`` those of ``f_m``. The structure is declared,
not discovered: ``f_0`` touches every encoder and ``f_m`` only encoder ``m``, so the bridge's
``groups`` extraction gets every per-objective gradient in **two backward passes whatever M
is** (one of ``f_0``; one of ``Σ_m f_m``, whose per-encoder parts are disjoint), and the
Gramian blocks between different modalities' objectives are known zeros.

With ``extraction="batched"`` the same two backward passes (same gradients) are the two rows
of **one** batched backward (``is_grads_batched``: the encoders' backward runs once under vmap
with two cotangents), which GPUs run as wider kernels; every operation of the encoders must
support vmap.

With ``extraction="representation"`` the Gramian comes from the gradients with respect to the
encoder outputs ``z_m`` instead (Sener & Koltun's MGDA-UB, one representation per modality:
``G = Σ_m (∂f/∂z_m)(∂f/∂z_m)ᵀ``): the M + 1 gradient passes run through the fusion module and
the heads only, and the encoders see **one** backward, of ``Σ_i w_i f_i``. Cheaper where the
encoders dominate the step; the weights then balance an upper bound of the parameter
gradients, not the gradients themselves.

Loss-only rules (MIMO, linear scalarization) skip the extraction: weights from the ``M + 1``
loss values, then one backward of ``Σ_i w_i f_i``. MIMO's default roles fit the adapter's
objective order: ``nominal = 0`` (the fusion loss), the group = every uni-modal loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

import moo.torch as mt
from moo.solvers import UpdateRule, available_rules, get_rule
from moo.validation import check_choice
from moo_multimodal.methods._base import Method, StepReport, losses, report

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput, MultimodalModel


EXTRACTIONS = ("groups", "batched", "representation")


class RuleMethod(Method):
    """Train with a registered `moo` update rule over ``[f_0, f_1, ..., f_M]``.

    Args:
        rule: a registry name of `moo.solvers` (``moo methods`` lists them) or an
            `UpdateRule` instance.
        extraction: ``"groups"`` (default: exact per-objective gradients of the encoder
            parameters, two backward passes over the encoders), ``"batched"`` (the same
            gradients from one batched backward with two cotangents) or ``"representation"``
            (Gramian at the encoder outputs, one backward over the encoders; not for rules
            that need the whole Jacobian, such as MoCo). Loss-only rules ignore it.
        **hyperparameters: the rule's hyperparameters (e.g. ``gamma=1.0, mu=0.5`` for MIMO).

    The rule instance is kept for the whole run, so stateful rules (MIMO's tracking or
    ascent, MoCo, MoDo) carry their state across steps; it is saved in checkpoints.
    """

    def __init__(
        self, rule: str | UpdateRule, *, extraction: str = "groups", **hyperparameters: Any
    ) -> None:
        self.rule = get_rule(rule, **hyperparameters)
        self.extraction = check_choice(extraction, "extraction", EXTRACTIONS)
        if self.extraction == "representation" and self.rule.needs == "jacobian":
            raise ValueError(
                f"rule {self.rule.name!r} needs the whole Jacobian over the encoder parameters: "
                "extraction='representation' gives only a Gramian; use extraction='groups'"
            )
        # the default extraction keeps the rule's name; another one is part of the name
        at = "" if self.extraction == "groups" else f"@{self.extraction}"
        self.name = f"{self.rule.name}{at}"
        self.summary = f"moo rule {self.rule.name!r}{at}: {self.rule.summary}"
        self._cache: tuple[int, list[torch.Tensor], list[list[int]], list[list[Any]]] | None = None

    def _structure(
        self, model: MultimodalModel
    ) -> tuple[list[torch.Tensor], list[list[int]], list[list[Any]]]:
        if self._cache is None or self._cache[0] != id(model):
            shared: list[torch.Tensor] = []
            per_modality: list[list[int]] = []
            for m in model.modalities:
                params = list(model.encoder_parameters(m))
                per_modality.append(list(range(len(shared), len(shared) + len(params))))
                shared.extend(params)
            groups = [list(range(len(shared))), *per_modality]
            task = [list(model.fusion_parameters())] + [
                list(model.head_parameters(m)) for m in model.modalities
            ]
            self._cache = (id(model), shared, groups, task)
        return self._cache[1], self._cache[2], self._cache[3]

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        shared, groups, task = self._structure(model)
        if self.rule.needs == "losses":
            step = mt.backward([fusion, *uni], shared, self.rule, task_params=task)
        elif self.extraction == "representation":
            step = mt.backward(
                [fusion, *uni],
                shared,
                self.rule,
                task_params=task,
                extraction="representation",
                representation=[output.features[m] for m in model.modalities],
            )
        else:
            step = mt.backward(
                [fusion, *uni],
                shared,
                self.rule,
                task_params=task,
                groups=groups,
                extraction="batched" if self.extraction == "batched" else "auto",
            )
        names = ("fusion", *model.modalities)
        weights = {n: float(w) for n, w in zip(names, step.weights, strict=True)}
        info: dict[str, float] = {"residual": float(step.residual)}
        if step.stationarity is not None:
            info["stationarity"] = float(step.stationarity)
        if "backward_passes" in step.info:
            info["backward_passes"] = float(step.info["backward_passes"])
        return report(
            model,
            fusion,
            uni,
            values=step.losses.tolist(),
            weights=weights,
            rule_time=step.rule_time,
            info=info,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rule.load_state_dict(state.get("rule", {}))


def rule_names() -> list[str]:
    """The `moo` rules usable as methods (every registered rule but linear scalarization,
    which the ``uniform`` method already is)."""
    return [name for name in available_rules() if name != "linear"]
