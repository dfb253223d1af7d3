"""The step paths of `backward`: one function per path, each taking the validated `Call`.

Every path extracts what its rule reads, hands it to the one host-side step
(`moo.torch._host.run_rule`: copy, check finite, call the rule, timed), and writes the
direction back into ``.grad`` on the device:

- ``"losses"`` (a weighting that reads the losses only): ``w`` from ``f``, then one backward
  of ``Σ w_i L_i``.
- ``"gramian"`` (a weighting that reads ``G``): per-objective gradients by block
  (`moo.torch._extract`), ``G`` in float64 on the device (`moo.torch._gramian`), ``w`` from
  ``[G | f]`` on the host, ``J_bᵀ w`` into each block's ``.grad``.
- ``"representation"`` (MGDA-UB, a weighting that reads ``G``): ``G`` of the gradients with
  respect to shared activations, then one backward of ``Σ w_i L_i``.
- ``"jacobian"`` (a direction rule): ``J`` to the host, the rule's direction written back.

Which path a rule takes is decided in one place, ``moo.torch._backward._path_for``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from moo.solvers import UpdateRule
from moo.torch._checks import describe
from moo.torch._distributed import all_reduce_mean, all_reduce_sum_
from moo.torch._extract import (
    Extracted,
    extract,
    grad,
    present,
    representation_rows,
    sum_losses,
    unreached,
)
from moo.torch._gramian import block_gramian, upcast
from moo.torch._host import StepInfo, run_rule, step_info
from moo.validation import FloatArray

Path = Literal["losses", "gramian", "representation", "jacobian"]


@dataclass(slots=True)
class Call:
    """One `backward` call's validated inputs: the one argument of every path."""

    rule: UpdateRule
    losses: list[torch.Tensor]
    vector: torch.Tensor | None  # the losses as given when they came as one 1-D tensor
    params: list[torch.Tensor]
    task: list[torch.Tensor]
    owner: list[int] | None  # objective of each task parameter, when declared per objective
    groups: list[list[int]] | None  # declared per-objective parameter groups
    batched: bool  # extraction="batched"
    reps: list[torch.Tensor]  # the representation tensors (extraction="representation")
    f_dev: torch.Tensor  # the K loss values, float64, on the losses' device
    retain_graph: bool
    check_finite: bool
    active: bool  # torch.distributed in use
    group: Any
    world: int

    def total(self) -> torch.Tensor:
        """``Σ_i L_i`` (the task parameters' objective)."""
        if self.vector is not None:
            return self.vector.sum()
        return sum_losses(self.losses, range(len(self.losses)))

    def weighted(self, w: FloatArray) -> tuple[torch.Tensor, torch.Tensor]:
        """The stacked losses and ``w`` as a tensor like them: their vector-Jacobian product
        is ``∇ Σ_i w_i L_i`` (no ``Σ w_i L_i`` node is built; the same numbers)."""
        stacked = self.vector if self.vector is not None else torch.stack(self.losses)
        wt = torch.as_tensor(w, dtype=stacked.dtype).to(stacked.device, non_blocking=True)
        return stacked, wt

    def weighted_grad(
        self, w: FloatArray, inputs: Sequence[torch.Tensor], retain_graph: bool
    ) -> tuple[torch.Tensor | None, ...]:
        """``∇ Σ_i w_i L_i`` with respect to ``inputs`` (see `weighted`)."""
        stacked, wt = self.weighted(w)
        return grad(stacked, inputs, retain_graph, grad_outputs=wt)

    def reduce(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The gradients averaged over the ranks (unchanged when not distributed)."""
        return all_reduce_mean(grads, self.group, self.world) if self.active and grads else grads

    def info(self, extraction: str, passes: int) -> dict[str, Any]:
        """The bridge's part of `StepInfo.info`."""
        return {"world_size": self.world, "extraction": extraction, "backward_passes": passes}


# ------------------------------------------------------------------------------ write-back


def _accumulate(p: torch.Tensor, g: torch.Tensor) -> None:
    """Add ``g`` to ``p.grad`` like autograd's accumulation (a fresh contiguous tensor if unset)."""
    # each conversion only when needed: this runs once per parameter on every step
    if g.requires_grad:
        g = g.detach()
    if g.dtype != p.dtype:
        g = g.to(p.dtype)
    if g.shape != p.shape:
        g = g.reshape(p.shape)
    if p.grad is None:
        p.grad = g.contiguous() if g.data_ptr() != p.data_ptr() else g.clone()
    else:
        p.grad.add_(g)


def _write_task(task: list[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> None:
    for t, (p, g) in enumerate(zip(task, grads, strict=True)):
        if g is None:
            raise unreached(t, p, "task_params")
        _accumulate(p, g)


def _weights_tensor(w: FloatArray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(w, dtype=upcast(like).dtype).to(like.device, non_blocking=True)


# ------------------------------------------------------------- Gramian and Jacobian paths


def _extract_reduced(call: Call) -> tuple[Extracted, torch.Tensor]:
    """The per-objective gradients and the loss values, averaged over the ranks when
    distributed (one all-reduce of the blocks, the task gradients and ``f`` together)."""
    ext = extract(
        call.losses,
        call.params,
        call.task,
        groups=call.groups,
        batched=call.batched,
        retain_graph=call.retain_graph,
    )
    if not call.active:
        return ext, call.f_dev
    present_task = [t for t in ext.task if t is not None]
    reduced = all_reduce_mean([*ext.mats, *present_task, call.f_dev], call.group, call.world)
    n = len(ext.mats)
    it = iter(reduced[n : n + len(present_task)])
    task = [None if t is None else next(it) for t in ext.task]
    return replace(ext, mats=reduced[:n], task=task), reduced[-1]


def _gramian_step(call: Call) -> StepInfo:
    """Weightings that read ``G``: ``G = Σ_b J_b J_bᵀ`` on the device, ``w`` on the host,
    ``J_bᵀ w`` into each block's ``.grad`` in the parameters' dtype."""
    ext, f_dev = _extract_reduced(call)
    gram = block_gramian(ext.mats, ext.rows, len(call.losses), call.params[0].device)
    run = run_rule(call.rule, f_dev, gramian=gram, verify=ext.verify)
    w = run.result.weights
    # the weights go to the device once per (rows, device, dtype), as non-blocking copies:
    # indexing a device tensor with a list of rows would be a synchronizing copy per block
    w_dev: dict[tuple[tuple[int, ...] | None, torch.device, torch.dtype], torch.Tensor] = {}
    for p, m, r in zip(call.params, ext.mats, ext.rows, strict=True):
        mc = upcast(m)
        key = (None if r is None else tuple(r), mc.device, mc.dtype)
        if key not in w_dev:
            w_dev[key] = _weights_tensor(w if r is None else w[r], mc)
        _accumulate(p, torch.mv(mc.T, w_dev[key]))  # gemv: faster than (1×K)@(K×d) on CPU
    _write_task(call.task, ext.task)
    return step_info(run, call.info(ext.mode, ext.passes))


def _jacobian_step(call: Call) -> StepInfo:
    """Direction rules (MoCo): ``J`` to the host as float64 NumPy, the rule's direction
    ``d`` written back block by block."""
    ext, f_dev = _extract_reduced(call)
    sizes = [m.shape[1] for m in ext.mats]
    full = torch.zeros(
        (len(call.losses), sum(sizes)), dtype=torch.float64, device=call.params[0].device
    )
    offset = 0
    for m, r, n in zip(ext.mats, ext.rows, sizes, strict=True):
        block = m.detach().to(full.device, torch.float64)
        if r is None:
            full[:, offset : offset + n] = block
        else:
            full[r, offset : offset + n] = block
        offset += n
    run = run_rule(call.rule, f_dev, jacobian=full, verify=ext.verify)
    assert run.direction is not None  # a direction is returned whenever J is given
    d_dev = torch.from_numpy(np.ascontiguousarray(run.direction))
    offset = 0
    for p, n in zip(call.params, sizes, strict=True):
        _accumulate(p, d_dev[offset : offset + n].to(p.device))
        offset += n
    _write_task(call.task, ext.task)
    return step_info(run, call.info(ext.mode, ext.passes))


# ---------------------------------------------------------------------- loss-only path


def _check_grads_finite(grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor]) -> None:
    """One synchronization: are all gradients finite? If not, name the first bad parameter."""
    if not grads:
        return
    dev, dtype = grads[0].device, grads[0].dtype
    # one reduction per tensor and one synchronization: Σ g is non-finite when an entry is
    # (or when it overflows, which the exact check below then clears). A plain sum is one
    # read of each tensor: 3.6× faster on the CPU than the fused Σ|g| of _foreach_norm(ord=1),
    # which makes two passes
    if all(g.device == dev and g.dtype == dtype for g in grads):
        sums = torch.stack([g.sum() for g in grads])
    else:
        sums = torch.stack([g.sum().to(device=dev, dtype=torch.float32) for g in grads])
    if bool(torch.isfinite(sums).all()):
        return
    flags = [bool(torch.isfinite(g).all()) for g in grads]
    if all(flags):
        return
    b = flags.index(False)
    raise ValueError(
        f"the gradient of shared_params[{b}] ({describe(params[b])}) is not finite although the "
        "losses are: a loss-only rule combines the objectives before the backward pass, so the "
        "objective cannot be named; retry with extraction='autograd' and a Gramian rule to find it"
    )


def _loss_only(call: Call) -> StepInfo:
    """Weightings that read the losses only: ``w`` from the loss values, one backward of
    ``Σ w_i L_i``."""
    run = run_rule(call.rule, call.reduce([call.f_dev])[0])
    w = run.result.weights
    if _in_place(call, w):
        return step_info(run, call.info("losses", _loss_only_in_place(call, w)))
    if call.owner is not None:
        grads, task_grads, passes = _loss_only_heads(call, call.owner, w)
    else:
        grads, task_grads, passes = _loss_only_flat(call, w)
    reduced = call.reduce([*grads, *task_grads])
    grads, task_grads = reduced[: len(grads)], reduced[len(grads) :]
    if call.check_finite:
        _check_grads_finite(grads, call.params)
    for p, g in zip([*call.params, *call.task], reduced, strict=True):
        _accumulate(p, g)
    return step_info(run, call.info("losses", passes))


def _in_place(call: Call, w: FloatArray) -> bool:
    """Can autograd accumulate the step's gradients into ``.grad`` itself? Yes when no
    gradient is to be reduced over ranks, every ``.grad`` is unset (``zero_grad()``'s
    default) and no head's weight is 0 (each head's ``.grad`` is then ``w_i ∇L_i``, divided
    in place)."""
    if call.active:
        return False
    for p in call.params:
        if p.grad is not None:
            return False
    for p in call.task:
        if p.grad is not None:
            return False
    return call.owner is None or all(w[i] != 0.0 for i in set(call.owner))


def _loss_only_in_place(call: Call, w: FloatArray) -> int:
    """The loss-only step with autograd writing ``.grad`` (``torch.autograd.backward`` with
    ``inputs``): the same gradients as `_loss_only_heads` / `_loss_only_flat` without a
    Python pass over the parameters. On any error every ``.grad`` is unset again, as before
    the call. Returns the number of backward passes."""
    params, task, owner = call.params, call.task, call.owner
    passes = 1
    try:
        if task and owner is None:  # the flat form: ∇ Σ_i L_i over the task parameters
            torch.autograd.backward(call.total(), inputs=task, retain_graph=True)
            passes += 1
            inputs = params
        else:
            inputs = [*params, *task]
        stacked, wt = call.weighted(w)
        torch.autograd.backward(
            stacked, grad_tensors=wt, inputs=inputs, retain_graph=call.retain_graph
        )
        grads = present([p.grad for p in params], params, "shared_params")
        heads = present([p.grad for p in task], task, "task_params")
        if heads and owner is not None:  # head t's .grad is w_i ∇L_i: one fused division
            torch._foreach_div_(heads, [float(w[i]) for i in owner])
        if call.check_finite:
            _check_grads_finite(grads, params)
    except BaseException:
        for p in (*params, *task):
            p.grad = None
        raise
    return passes


def _loss_only_heads(
    call: Call, owner: list[int], w: FloatArray
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """One backward of ``Σ w_i L_i`` over shared and head parameters; head ``i``'s gradient is
    ``w_i ∇L_i`` there, divided by ``w_i``. Heads of objectives with ``w_i = 0`` get one more
    backward of their own losses."""
    params, task = call.params, call.task
    fast = [t for t in range(len(task)) if w[owner[t]] != 0.0]
    slow = [t for t in range(len(task)) if w[owner[t]] == 0.0]
    inputs = [*params, *(task[t] for t in fast)]
    got = call.weighted_grad(w, inputs, call.retain_graph or bool(slow))
    grads = present(got[: len(params)], params, "shared_params")
    task_grads: list[torch.Tensor | None] = [None] * len(task)
    scaled: list[torch.Tensor] = []
    for t, g in zip(fast, got[len(params) :], strict=True):
        if g is None:
            raise unreached(t, task[t], "task_params")
        scaled.append(g)
    if scaled:  # head t's gradient is w_i ∇L_i here: one fused division by the weights
        unscaled = torch._foreach_div(scaled, [float(w[owner[t]]) for t in fast])
        for t, g in zip(fast, unscaled, strict=True):
            task_grads[t] = g
    passes = 1
    if slow:
        zero = sorted({owner[t] for t in slow})
        got_slow = grad(sum_losses(call.losses, zero), [task[t] for t in slow], call.retain_graph)
        for t, g in zip(slow, got_slow, strict=True):
            if g is None:
                raise unreached(t, task[t], "task_params")
            task_grads[t] = g
        passes += 1
    return grads, [g for g in task_grads if g is not None], passes


def _loss_only_flat(
    call: Call, w: FloatArray
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """Shared parameters: one backward of ``Σ w_i L_i``; task parameters: one backward of
    ``Σ_i L_i`` over them only."""
    passes = 1
    task_grads: list[torch.Tensor] = []
    if call.task:
        task_grads = present(grad(call.total(), call.task, True), call.task, "task_params")
        passes += 1
    got = call.weighted_grad(w, call.params, call.retain_graph)
    return present(got, call.params, "shared_params"), task_grads, passes


# ----------------------------------------------------------------- representation path


def _representation_step(call: Call) -> StepInfo:
    """MGDA-UB: the Gramian of the gradients w.r.t. the representation(s) chooses ``w``."""
    k = len(call.losses)
    rows = representation_rows(call.losses, call.reps)
    gram = block_gramian(rows, [None] * len(rows), k, call.reps[0].device)
    del rows
    f_dev = call.f_dev
    if call.active:
        # each rank's batch-mean loss is 1/world of the global mean's: G = Σ_r G_r / world²
        gram = all_reduce_sum_(gram, call.group).div_(call.world * call.world)
        f_dev = call.reduce([f_dev])[0]
    run = run_rule(
        call.rule, f_dev, gramian=gram, what="gradient with respect to the representation"
    )
    w = run.result.weights
    task_grads: list[torch.Tensor] = []
    passes = k + 1
    if call.task:
        task_grads = present(grad(call.total(), call.task, True), call.task, "task_params")
        passes += 1
    got = call.weighted_grad(w, call.params, call.retain_graph)
    grads = present(got, call.params, "shared_params")
    reduced = call.reduce([*grads, *task_grads])
    for p, g in zip([*call.params, *call.task], reduced, strict=True):
        _accumulate(p, g)
    return step_info(run, call.info("representation", passes))


STEPS: Mapping[Path, Callable[[Call], StepInfo]] = {
    "losses": _loss_only,
    "gramian": _gramian_step,
    "representation": _representation_step,
    "jacobian": _jacobian_step,
}
