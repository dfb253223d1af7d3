"""`backward`, the multi-objective replacement for ``loss.backward()``: the argument checks,
then the choice of a step path (`_path_for`, the one place that reads the rule's kind).

The d-dimensional work (per-objective gradients, the Gramian, ``d = Jᵀw``) stays on the
parameters' device; the rule's math runs on the host in float64 on a K×K Gramian (one
device→host copy of K×(K+1) numbers per step: ``G`` and the loss values). The paths live in
``_paths``; the package docstring (``moo/torch/__init__.py``) lists every module's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from moo.solvers import UpdateRule, Weighting
from moo.torch._checks import (
    check_disjoint,
    check_extraction,
    check_groups,
    check_losses,
    check_representation,
    check_rule,
    check_shared,
    check_task_params,
)
from moo.torch._distributed import resolve_group
from moo.torch._extract import task_leaves
from moo.torch._host import StepInfo
from moo.torch._paths import STEPS, Call, Path
from moo.validation import check_bool


def _path_for(rule: UpdateRule, extraction: str) -> Path:
    """The step path of ``rule``: the one place that reads a rule's kind.

    A `Weighting` that reads the losses only takes the loss-only path whatever the
    extraction; one that reads the Gramian takes the Gramian path (or the representation
    path for ``extraction="representation"``); any other rule (a `DirectionRule`) gives its
    direction from the Jacobian.
    """
    if not isinstance(rule, Weighting):
        return "jacobian"
    if not rule.uses_gramian:
        return "losses"
    return "representation" if extraction == "representation" else "gramian"


def backward(
    losses: torch.Tensor | Sequence[torch.Tensor],
    shared_params: Iterable[torch.Tensor],
    rule: str | UpdateRule = "mgda",
    *,
    task_params: Iterable[torch.Tensor] | Sequence[Iterable[torch.Tensor]] | None = None,
    extraction: str = "auto",
    representation: torch.Tensor | Sequence[torch.Tensor] | None = None,
    groups: Sequence[Sequence[int]] | None = None,
    retain_graph: bool = False,
    check_finite: bool = True,
    process_group: Any = None,
) -> StepInfo:
    """A multi-objective step's gradients: replaces ``loss.backward()`` in a training loop.

    After the call each shared parameter's ``.grad`` holds (accumulated, like
    ``loss.backward()``) its part of ``d = Jᵀw``, where ``J`` stacks the K per-objective
    gradients and ``w`` are the rule's weights; each task parameter's ``.grad`` receives the
    ordinary gradient of ``Σ_i L_i`` (a task head is trained on its own loss, unweighted).
    Then any ``torch.optim`` optimizer steps as usual.

    Paths by the rule's kind:

    - a `Weighting` that reads the losses only (``uses_gramian`` false: MIMO, linear):
      weights from the detached loss values (one K-vector copy to the host), then one
      backward of ``Σ w_i L_i`` over the shared parameters (plus one over the task parameters
      only, if any, for ``∇ Σ L_i``, unless they are given per objective: see
      ``task_params``). When every ``.grad`` is unset (``zero_grad()``'s default) and
      ``torch.distributed`` is not in use, autograd writes ``.grad`` itself
      (``torch.autograd.backward`` with ``inputs``, no Python pass over the parameters), so
      hooks registered with ``register_post_accumulate_grad_hook`` run as under
      ``loss.backward()`` (a per-objective head's hook sees ``w_i ∇L_i``, divided by ``w_i``
      after the pass).
    - a `Weighting` that reads the Gramian: per-objective gradients by parameter block (see
      ``extraction`` and ``groups``), ``G = Σ_b J_b J_bᵀ`` accumulated in float64 on the
      device, one copy of ``[G | f]`` (K×(K+1)) to the host, ``rule.weights(G, f)`` in
      float64, then ``J_bᵀ w`` written into ``.grad`` on the device in the parameters' dtype.
    - a `DirectionRule` (MoCo): ``J`` is copied to the host as float64 NumPy,
      ``rule.direction(J, f)`` is called and its direction written back.

    Args:
        losses: K scalar tensors, or a 1-D tensor of K losses (K >= 1).
        shared_params: the parameters every objective may touch (tensors with
            ``requires_grad``); each must be reached by some loss.
        rule: a registry name (a fresh rule with default hyperparameters is built at every
            call, so a stateful rule must be passed as an instance) or an `UpdateRule`.
        task_params: parameters that receive the plain gradient of ``Σ_i L_i``: an iterable
            of tensors, or K iterables, one per objective, of the parameters only that
            objective reaches (its head). The per-objective form lets loss-only rules serve
            the heads from their single weighted backward (each head's gradient is divided by
            its weight ``w_i``; heads of objectives with ``w_i = 0`` cost one more backward);
            the gradients are the same either way when the declaration is true (it is not
            checked). Not given (``None``, the default): they are found from the losses'
            graphs, as every trainable leaf tensor (``requires_grad``, no ``grad_fn``) that
            some loss reaches and that is not in ``shared_params`` (one walk of the graph per
            call; frozen parameters are not in the graph), and treated as the flat form.
            ``[]`` means none: those leaves then get no gradient.
        extraction: ``"auto"`` (= ``"autograd"``), ``"autograd"`` (K backward passes),
            ``"batched"`` (one backward with ``is_grads_batched``; raises if the graph does not
            support vmap) or ``"representation"`` (MGDA-UB: ``G`` from the gradients with
            respect to ``representation``, then one backward of ``Σ w_i L_i``).
        representation: the shared activations for ``extraction="representation"``: one
            tensor, or several (e.g. one encoder output per modality), in which case ``G`` is
            the sum of their Gramians, ``Σ_r (∂L/∂z_r)(∂L/∂z_r)ᵀ``, and a loss that does not
            reach a tensor contributes zeros there (each loss must reach one of them).
        groups: K lists of indices into ``shared_params``: objective ``i`` touches only the
            parameters of ``groups[i]``. Objectives with pairwise disjoint groups share one
            backward, and Gramian blocks between disjoint groups are known zeros; with
            ``extraction="batched"`` those backward passes are the rows of one batched
            backward. A wrong
            declaration (an objective that reaches a parameter outside its group) gives wrong
            gradients: it is not detected.
        retain_graph: keep the graph after the call (as in ``loss.backward``).
        check_finite: after the loss-only path's backward, check that every shared gradient
            is finite (one reduction per tensor and one device synchronization per step);
            ``False`` skips that check. The other paths check ``G`` on the host at no cost,
            and the loss values are always checked.
        process_group: a ``torch.distributed`` group; by default the global group when
            ``torch.distributed`` is initialized. Per-objective gradients (one flat bucket per
            dtype) and loss values are averaged over the ranks before the weights, so every
            rank computes the same weights.

    Returns:
        A `StepInfo` with the weights and diagnostics.

    Raises:
        ValueError: bad losses or parameters (named by index), a parameter reached by no loss,
            non-finite losses or gradients (named by objective), bad ``groups``, a missing
            ``representation``, an unknown ``extraction``.
        RuntimeError: ``extraction="batched"`` on a graph that does not support vmap.
    """
    check_extraction(extraction)
    check_finite = check_bool(check_finite, "check_finite")
    retain_graph = check_bool(retain_graph, "retain_graph")
    rule_obj = check_rule(rule)
    path = _path_for(rule_obj, extraction)
    loss_list, vector = check_losses(losses)
    k = len(loss_list)
    params = check_shared(shared_params)
    if task_params is None:  # not given: found from the losses' graphs
        roots: Sequence[torch.Tensor] = loss_list if vector is None else [vector]
        task, owner = task_leaves(roots, params), None
    else:
        task, owner = check_task_params(task_params, k)
    check_disjoint(params, task)
    group_list = None if groups is None else check_groups(groups, k, len(params))
    reps: list[torch.Tensor] = []
    if extraction == "representation":
        reps = check_representation(representation, group_list is not None)
        if path == "jacobian":
            raise ValueError(
                f"rule {rule_obj.name!r} needs the full Jacobian over the parameters; "
                "extraction='representation' gives only a Gramian"
            )
    active, group, world = resolve_group(process_group)
    # check_losses made every loss a 0-d tensor: one stack, one conversion
    f_dev = torch.stack([loss.detach() for loss in loss_list]).to(torch.float64)
    call = Call(
        rule=rule_obj,
        losses=loss_list,
        vector=vector,
        params=params,
        task=task,
        owner=owner,
        groups=group_list,
        batched=extraction == "batched",
        reps=reps,
        f_dev=f_dev,
        retain_graph=retain_graph,
        check_finite=check_finite,
        active=active,
        group=group,
        world=world,
    )
    return STEPS[path](call)
