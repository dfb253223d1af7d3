"""moo's update rules as multimodal training methods, through `moo.torch.backward`.

Objectives ``[f_0, f_1, ..., f_M]`` (fusion loss, then one uni-modal loss per modality, in the
model's modality order). The shared parameters are the encoders; the fusion module and head
are the task parameters of ``f_0`` and head ``m`` those of ``f_m``; all of them come from
`MultimodalModel.parameter_groups`, so frozen parameters (``requires_grad=False``) are left
out. The structure is declared, not discovered: ``f_0`` touches every encoder and ``f_m``
only encoder ``m``, so the bridge's ``groups`` extraction gets every per-objective gradient in
**two backward passes whatever M is** (one of ``f_0``; one of ``Σ_m f_m``, whose per-encoder
parts are disjoint), and the Gramian blocks between different modalities' objectives are
known zeros.

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

Several processes (`torch.distributed` initialized): `moo.torch.backward` averages over the
ranks what each path needs (the per-objective gradient blocks and loss values before the
Gramian; MIMO's loss values before its weights, then the gradients of ``Σ_i w_i f_i``), so
every rank computes the same weights and writes the same ``.grad`` as one process on the
whole batch. ``extraction="representation"`` sums the ranks' local Gramians instead (see
docs/distributed.md): close to, not equal to, the one-process step.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

import moo.torch as mt
from moo.solvers import DirectionRule, UpdateRule, Weighting, available_rules, get_rule
from moo.validation import check_choice
from moo_multimodal.methods._base import Method, StepReport, losses, parameter_groups, report

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
    ascent, MoCo, MoDo) carry their state across steps; it is saved in checkpoints. A rule
    with randomness takes its seed as a hyperparameter (PCGrad's ``seed``: its projection
    order); built by name through `make_method` (the trainer, `compare`, ``moo-mm``), it
    receives the run's seed unless one is given.
    """

    def __init__(
        self, rule: str | UpdateRule, *, extraction: str = "groups", **hyperparameters: Any
    ) -> None:
        self.rule = get_rule(rule, **hyperparameters)
        self.extraction = check_choice(extraction, "extraction", EXTRACTIONS)
        if self.extraction == "representation" and isinstance(self.rule, DirectionRule):
            raise ValueError(
                f"rule {self.rule.name!r} needs the whole Jacobian over the encoder parameters: "
                "extraction='representation' gives only a Gramian; use extraction='groups'"
            )
        # the default extraction keeps the rule's name; another one is part of the name
        at = "" if self.extraction == "groups" else f"@{self.extraction}"
        self.name = f"{self.rule.name}{at}"
        self.summary = f"moo rule {self.rule.name!r}{at}: {self.rule.summary}"
        self._cache: _Structure | None = None

    # moo.torch.backward averages over torch.distributed's default group itself
    reduces_over_ranks = True

    @property
    def _losses_only(self) -> bool:
        """The rule is a weighting of the loss values alone (no gradient extraction)."""
        return isinstance(self.rule, Weighting) and not self.rule.uses_gramian

    def _structure(
        self, model: MultimodalModel
    ) -> tuple[list[torch.Tensor], list[list[int]], list[list[torch.Tensor]]]:
        """The shared parameters (every encoder's trainable ones), each objective's group of
        indices into them, and each objective's task parameters, from
        `MultimodalModel.parameter_groups` (frozen parameters left out).

        Kept while the model and its parameters' ``requires_grad`` flags are unchanged
        (walking a large model's modules every step would cost more than the check).
        """
        cache = self._cache
        if (
            cache is not None
            and cache.model() is model
            and all(p.requires_grad == f for p, f in zip(cache.every, cache.flags, strict=True))
        ):
            return cache.shared, cache.groups, cache.task
        groups_of_model = parameter_groups(model)
        shared: list[torch.Tensor] = []
        per_modality: list[list[int]] = []
        for m, params in groups_of_model.encoders.items():
            if not params and not self._losses_only:
                raise ValueError(
                    f"rule {self.rule.name!r}: encoder {m!r} has no trainable parameter, so its "
                    "uni-modal loss has no gradient for the rule to weigh; unfreeze part of it, "
                    "or use a loss-only rule (mimo) or a baseline (joint, uniform)"
                )
            per_modality.append(list(range(len(shared), len(shared) + len(params))))
            shared.extend(params)
        if not shared:
            raise ValueError(
                f"rule {self.rule.name!r}: every encoder is frozen, there is nothing to balance"
            )
        groups = [list(range(len(shared))), *per_modality]
        task: list[list[torch.Tensor]] = [list(params) for params in groups_of_model.task]
        every = list(model.parameters())
        flags = [p.requires_grad for p in every]
        self._cache = _Structure(weakref.ref(model), every, flags, shared, groups, task)
        return shared, groups, task

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        shared, groups, task = self._structure(model)
        if self._losses_only:
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


@dataclass
class _Structure:
    """`RuleMethod._structure`'s result for one model, with what tells when it is stale."""

    model: weakref.ref[MultimodalModel]
    every: list[torch.nn.Parameter]  # all the model's parameters, frozen ones included
    flags: list[bool]  # their requires_grad when the structure was made
    shared: list[torch.Tensor]
    groups: list[list[int]]
    task: list[list[torch.Tensor]]


def rule_names() -> list[str]:
    """The `moo` rules usable as methods (every registered rule but linear scalarization,
    which the ``uniform`` method already is)."""
    return [name for name in available_rules() if name != "linear"]
