"""Per-objective gradient extraction: the K rows of the Jacobian, by parameter block.

Every mode returns an `Extracted`: for each shared parameter a ``(rows, numel)`` matrix in the
parameter's dtype (its objectives' gradients, flattened), and the summed gradient ``∇ Σ_i L_i``
of each task parameter, which the same backward passes give for free.

- ``autograd``: one backward per objective (K passes).
- ``batched``: the same passes as the rows of one ``is_grads_batched`` backward.
- ``groups`` (declared per-objective parameter groups): objectives with pairwise disjoint groups
  share one backward; blocks hold only the rows of the objectives that declared them. Combined
  with ``batched``: the rounds are the rows of one batched backward.

`representation_rows` is the MGDA-UB variant: the gradients with respect to shared activations.
`task_leaves` finds the task parameters from the losses' graphs when none are declared;
`reach_masks` says which shared parameters each loss's graph reaches (the batched mode's check
of a loss that reaches none of its shared parameters, see `Extracted.verify`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from moo.torch._checks import describe
from moo.torch._gramian import Rows


@dataclass(slots=True)
class Extracted:
    """Per-objective gradients by parameter block, and the task parameters' summed gradients.

    Attributes:
        mats: one ``(len(rows), numel)`` matrix per shared parameter, in its dtype.
        rows: the objectives of each matrix's rows (``None``: all K, in order).
        task: ``∇ Σ_i L_i`` per task parameter, flattened (``None`` where no loss reached it).
        passes: the backward passes made.
        mode: the mode taken (``StepInfo.info["extraction"]``).
        verify: ``None`` when the extraction has already checked that every loss reaches one
            of its shared parameters (separate backward passes see it: ``None`` gradients).
            Otherwise (one batched backward, where a loss that reaches nothing gets a zero
            row like a loss whose gradient is numerically zero) a check to call, before the
            rule, with the objectives whose rows are exactly zero (``G_ii = 0``): it walks
            their graphs and raises the same ``ValueError`` as the separate passes for one
            that reaches none of its shared parameters. A loss that does reach them has a
            structural path, so a rule only ever sees a zero row it would have seen anyway.
    """

    mats: list[torch.Tensor]
    rows: list[Rows]
    task: list[torch.Tensor | None]
    passes: int
    mode: str
    verify: Callable[[Sequence[int]], None] | None = None


def unreached(index: int, p: torch.Tensor, name: str = "shared_params") -> ValueError:
    """The error for a parameter that no loss reaches."""
    return ValueError(
        f"{name}[{index}] ({describe(p)}) is reached by no loss: remove it from {name} "
        "(or check that the model uses it)"
    )


def loss_unreached(index: int) -> ValueError:
    """The error for a loss that reaches none of the shared parameters of its group."""
    return ValueError(
        f"losses[{index}] reaches none of its shared parameters: its gradient would be a "
        "zero row that the rule weighs like any other (MGDA would call the point "
        "Pareto-stationary); drop that objective, or check that its graph uses them"
    )


def present(
    grads: Sequence[torch.Tensor | None], tensors: Sequence[torch.Tensor], name: str
) -> list[torch.Tensor]:
    """The gradients, or the error naming the first tensor no loss reached."""
    out: list[torch.Tensor] = []
    for i, g in enumerate(grads):
        if g is None:
            raise unreached(i, tensors[i], name)
        out.append(g)
    return out


def grad(
    output: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    retain_graph: bool,
    grad_outputs: torch.Tensor | None = None,
    batched: bool = False,
) -> tuple[torch.Tensor | None, ...]:
    """`torch.autograd.grad` with unused inputs allowed (``None``); no inputs, no pass."""
    if not inputs:
        return ()
    return torch.autograd.grad(
        output,
        list(inputs),
        grad_outputs=grad_outputs,
        retain_graph=retain_graph,
        allow_unused=True,
        is_grads_batched=batched,
    )


def task_leaves(
    roots: Sequence[torch.Tensor], shared: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """The trainable leaves that some root reaches and that are not in ``shared``.

    One walk of the backward graph from the roots' ``grad_fn`` through ``next_functions``
    (each node once), collecting the tensor of every ``AccumulateGrad`` node (the node autograd
    makes for a leaf that requires grad), as torchjd does. A root that is itself such a leaf
    is one too. The order is that of the walk (deterministic for a given graph).
    """
    excluded = {id(p) for p in shared}
    found: list[torch.Tensor] = []
    seen: set[int] = set()
    visited: set[Any] = set()
    stack: list[Any] = []
    for root in roots:
        if root.grad_fn is not None:
            stack.append(root.grad_fn)
        elif root.requires_grad and id(root) not in excluded and id(root) not in seen:
            seen.add(id(root))
            found.append(root)
    while stack:
        node = stack.pop()
        if node in visited:
            continue
        visited.add(node)
        leaf = getattr(node, "variable", None)  # AccumulateGrad: its leaf tensor
        if leaf is not None:
            if id(leaf) not in excluded and id(leaf) not in seen:
                seen.add(id(leaf))
                found.append(leaf)
            continue
        for child, _ in node.next_functions:
            if child is not None and child not in visited:
                stack.append(child)
    return found


def sum_losses(losses: Sequence[torch.Tensor], indices: Sequence[int]) -> torch.Tensor:
    """``Σ_{i ∈ indices} L_i`` (``indices`` non-empty)."""
    total = losses[indices[0]]
    for i in indices[1:]:
        total = total + losses[i]
    return total


def extract(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    *,
    groups: list[list[int]] | None,
    batched: bool,
    retain_graph: bool,
) -> Extracted:
    """The per-objective gradients of ``params`` (and ``∇ Σ_i L_i`` of ``task``).

    Without ``groups`` every objective touches every block (K rounds of one objective each).
    A shared parameter reached by no loss raises ``ValueError``.
    """
    if groups is None:
        groups = [list(range(len(params)))] * len(losses)
        mode = "batched" if batched else "autograd"
    else:
        mode = "groups+batched" if batched else "groups"
    if batched:
        return _extract_batched(losses, params, task, groups, retain_graph, mode)
    return _extract_rounds(losses, params, task, groups, retain_graph, mode)


def _rows(objectives: list[int], k: int) -> Rows:
    """A block's objective rows; ``None`` when they are all K in order (no index needed)."""
    return None if objectives == list(range(k)) else objectives


def _rounds(groups: list[list[int]]) -> list[list[int]]:
    """Greedy partition of the objectives into sets with pairwise disjoint groups."""
    rounds: list[list[int]] = []
    used: list[set[int]] = []
    for i, group in enumerate(groups):
        for r, taken in enumerate(used):
            if taken.isdisjoint(group):
                rounds[r].append(i)
                taken.update(group)
                break
        else:
            rounds.append([i])
            used.append(set(group))
    return rounds


def _sum_task(acc: list[torch.Tensor | None], grads: Sequence[torch.Tensor | None]) -> None:
    for t, g in enumerate(grads):
        if g is not None:
            flat = g.reshape(-1)
            acc[t] = flat if acc[t] is None else acc[t] + flat  # type: ignore[operator]


def _extract_rounds(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    groups: list[list[int]],
    retain_graph: bool,
    mode: str,
) -> Extracted:
    """One backward of ``Σ_{i ∈ round} L_i`` per round of `_rounds`."""
    rows: list[list[int]] = [[] for _ in params]
    for i, group in enumerate(groups):
        for b in group:
            rows[b].append(i)
    # each row is written exactly once below (in its objective's round): no zero-fill
    mats = [
        torch.empty((len(r), p.numel()), dtype=p.dtype, device=p.device)
        for r, p in zip(rows, params, strict=True)
    ]
    reached = [False] * len(params)
    reaches = [False] * len(losses)  # objective i reaches one of its blocks
    task_acc: list[torch.Tensor | None] = [None] * len(task)
    rounds = _rounds(groups)
    for n, objectives in enumerate(rounds):
        owner = {b: i for i in objectives for b in groups[i]}
        blocks = sorted(owner)
        grads = grad(
            sum_losses(losses, objectives),
            [*(params[b] for b in blocks), *task],
            retain_graph or n < len(rounds) - 1,
        )
        for b, g in zip(blocks, grads[: len(blocks)], strict=True):
            row = mats[b][rows[b].index(owner[b])]
            if g is None:
                row.zero_()
            else:
                row.copy_(g.reshape(-1))
                reached[b] = True
                reaches[owner[b]] = True
        _sum_task(task_acc, grads[len(blocks) :])
        del grads
    for b, ok in enumerate(reached):
        if not ok:
            raise unreached(b, params[b])
    for i, ok in enumerate(reaches):
        if not ok and groups[i]:
            raise loss_unreached(i)
    return Extracted(mats, [_rows(r, len(losses)) for r in rows], task_acc, len(rounds), mode)


def _extract_batched(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    groups: list[list[int]],
    retain_graph: bool,
    mode: str,
) -> Extracted:
    """The rounds of `_extract_rounds` as the rows of **one** batched backward: cotangent
    ``e_n`` on ``Σ_{i ∈ round n} L_i``. A parameter's row ``n`` is the gradient of the
    objective of round ``n`` that declared it (a view when every round declares it)."""
    rounds = _rounds(groups)
    stacked = torch.stack([sum_losses(losses, objectives).reshape(()) for objectives in rounds])
    eye = torch.eye(len(rounds), dtype=stacked.dtype, device=stacked.device)
    try:
        grads = grad(stacked, [*params, *task], retain_graph, grad_outputs=eye, batched=True)
    except RuntimeError as exc:
        raise RuntimeError(
            "extraction='batched' failed: one batched backward (is_grads_batched=True) runs the "
            "backward graph under vmap, and some operation of this graph does not support it "
            f"({exc}). Use extraction='autograd' (separate backward passes) instead."
        ) from exc
    owners = [{b: i for i in objectives for b in groups[i]} for objectives in rounds]
    mats: list[torch.Tensor] = []
    rows: list[Rows] = []
    for b, g in enumerate(grads[: len(params)]):
        if g is None:
            raise unreached(b, params[b])
        declared = [n for n, owner in enumerate(owners) if b in owner]
        flat = g.reshape(len(rounds), -1)
        mats.append(flat if len(declared) == len(rounds) else flat[declared])
        rows.append(_rows([owners[n][b] for n in declared], len(losses)))
    task_acc: list[torch.Tensor | None] = [
        None if g is None else g.sum(0).reshape(-1) for g in grads[len(params) :]
    ]
    verify = _reach_check(losses, params, groups, rounds)
    return Extracted(mats, rows, task_acc, 1, mode, verify)


def _reach_check(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    groups: list[list[int]],
    rounds: list[list[int]],
) -> Callable[[Sequence[int]], None]:
    """`Extracted.verify` of the batched modes: what the separate passes of `_extract_rounds`
    check, from the graph. Objective ``i`` (of round ``n``) reaches its group when the graph
    of round ``n``'s summed losses reaches a parameter of ``groups[i]`` (the passes attribute
    a round's gradient of a block to the objective that declared it, in the same way)."""

    def verify(zero: Sequence[int]) -> None:
        round_of = {i: n for n, objectives in enumerate(rounds) for i in objectives}
        suspects = [i for i in sorted(set(zero)) if groups[i]]
        if not suspects:
            return
        needed = sorted({j for i in suspects for j in rounds[round_of[i]]})
        masks = dict(zip(needed, reach_masks([losses[j] for j in needed], params), strict=True))
        for i in suspects:
            reached = 0
            for j in rounds[round_of[i]]:
                reached |= masks[j]
            if not any(reached >> b & 1 for b in groups[i]):
                raise loss_unreached(i)

    return verify


def reach_masks(roots: Sequence[torch.Tensor], params: Sequence[torch.Tensor]) -> list[int]:
    """For each root, the shared parameters its backward graph reaches, as a bit mask (bit
    ``b``: ``params[b]``).

    One memoized walk of the graph from the roots' ``grad_fn`` through ``next_functions``
    (each node once, whatever the number of roots; the edges outlive a backward pass that did
    not retain the graph); ``AccumulateGrad`` nodes are the leaves, as in `task_leaves`. This
    is the reachability autograd itself uses: ``torch.autograd.grad`` returns ``None`` for a
    parameter exactly when its mask bit is 0. A root that is itself a leaf reaches itself.
    """
    bit = {id(p): 1 << b for b, p in enumerate(params)}
    memo: dict[Any, int] = {}
    out: list[int] = []
    for root in roots:
        fn = root.grad_fn
        if fn is None:
            out.append(bit.get(id(root), 0))
            continue
        stack: list[tuple[Any, bool]] = [(fn, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:  # every child is done: combine their masks
                mask = 0
                for child, _ in node.next_functions:
                    if child is not None:
                        mask |= memo[child]
                memo[node] = mask
                continue
            if node in memo:
                continue
            leaf = getattr(node, "variable", None)  # AccumulateGrad: its leaf tensor
            if leaf is not None:
                memo[node] = bit.get(id(leaf), 0)
                continue
            stack.append((node, True))
            for child, _ in node.next_functions:
                if child is not None and child not in memo:
                    stack.append((child, False))
        out.append(memo[fn])
    return out


def representation_rows(losses: list[torch.Tensor], reps: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per representation tensor, the (K, numel) gradients of the losses with respect to it
    (K backward passes, graph retained; zeros where a loss does not reach a tensor)."""
    k = len(losses)
    rows = [torch.zeros((k, rep.numel()), dtype=rep.dtype, device=rep.device) for rep in reps]
    for i, loss in enumerate(losses):
        got = grad(loss, reps, True)
        if all(g is None for g in got):
            what = "the representation" if len(reps) == 1 else "any representation tensor"
            raise ValueError(f"losses[{i}] does not depend on {what}")
        for r, g in enumerate(got):
            if g is not None:
                rows[r][i].copy_(g.reshape(-1))
    return rows
