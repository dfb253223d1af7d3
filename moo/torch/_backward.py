"""`backward`: a multi-objective replacement for ``loss.backward()``.

The d-dimensional work (per-objective gradients, the Gramian, ``d = Jᵀw``) stays on the
parameters' device; the rule's math runs on the host in float64 on a K×K Gramian (one
device→host copy of K×(K+1) numbers per step: ``G`` and the loss values).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from moo.solvers import RuleResult, UpdateRule, get_rule
from moo.solvers._min_norm import stationarity
from moo.torch._checks import (
    check_extraction,
    check_groups,
    check_losses,
    check_params,
    check_task_params,
    describe,
)
from moo.torch._distributed import all_reduce_mean, all_reduce_sum_, resolve_group
from moo.validation import FloatArray, check_bool

Rows = list[int] | None  # objective indices of a block's rows (None: all K, in order)


@dataclass(frozen=True)
class StepInfo:
    """What `backward` did in one step.

    Attributes:
        weights: the rule's weights ``w`` (K,), float64; the shared parameters received
            ``d = Jᵀw`` (for MoCo, its own direction ``Yᵀλ``, and ``w = λ``).
        gramian: ``G = J Jᵀ`` (K×K, float64) of the (all-reduced) per-objective gradients, or
            of the gradients with respect to the representation for
            ``extraction="representation"``; ``None`` for loss-only rules.
        residual: the rule's optimality certificate (``0.0`` for closed-form rules).
        stationarity: ``min_{w ∈ Δ} ||Jᵀw||`` (the square root of MGDA's min-norm value on
            ``G``); ``0`` at a Pareto-stationary point; ``None`` for loss-only rules.
        rule_time: seconds spent in the rule's weights computation (host).
        losses: the K loss values the rule saw (host, float64; averaged over the ranks when
            distributed): the step's one device→host copy of them, free to log.
        info: the rule's diagnostics plus ``"extraction"`` (the path taken),
            ``"backward_passes"`` (autograd calls made) and ``"world_size"``.
    """

    weights: FloatArray
    gramian: FloatArray | None
    residual: float
    stationarity: float | None
    rule_time: float
    losses: FloatArray
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Extracted:
    """Per-objective gradients by parameter block, and the task parameters' summed gradients."""

    mats: list[torch.Tensor]  # (len(rows), numel) per shared parameter, in its dtype
    rows: list[Rows]
    task: list[torch.Tensor | None]  # ∇ Σ_i L_i per task parameter, flattened
    passes: int


@dataclass
class _Call:
    """One `backward` call's validated inputs, shared by its paths."""

    rule: UpdateRule
    losses: list[torch.Tensor]
    vector: torch.Tensor | None  # the losses as given when they came as one 1-D tensor
    params: list[torch.Tensor]
    task: list[torch.Tensor]
    owner: list[int] | None  # objective of each task parameter, when declared per objective
    f_dev: torch.Tensor  # the K loss values, float64, on the losses' device
    retain_graph: bool
    check_finite: bool
    active: bool  # torch.distributed in use
    group: Any
    world: int
    info: dict[str, Any]

    def total(self) -> torch.Tensor:
        """``Σ_i L_i`` (the task parameters' objective)."""
        if self.vector is not None:
            return self.vector.sum()
        return _sum_losses(self.losses, range(len(self.losses)))

    def weighted(self, w: FloatArray) -> torch.Tensor:
        """``Σ_i w_i L_i``."""
        return _weighted_sum(self.losses, self.vector, w)

    def reduce(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """The gradients averaged over the ranks (unchanged when not distributed)."""
        return all_reduce_mean(grads, self.group, self.world) if self.active and grads else grads


# --------------------------------------------------------------------------------- helpers


def _compute(m: torch.Tensor) -> torch.Tensor:
    """``m`` in a dtype fit for products: float16/bfloat16 upcast to float32."""
    return m if m.dtype in (torch.float32, torch.float64) else m.float()


def _accumulate(p: torch.Tensor, g: torch.Tensor) -> None:
    """Add ``g`` to ``p.grad`` like autograd's accumulation (a fresh contiguous tensor if unset)."""
    g = g.detach().to(p.dtype).reshape(p.shape)
    if p.grad is None:
        p.grad = g.contiguous() if g.data_ptr() != p.data_ptr() else g.clone()
    else:
        p.grad.add_(g)


def _unreached(index: int, p: torch.Tensor, name: str = "shared_params") -> ValueError:
    return ValueError(
        f"{name}[{index}] ({describe(p)}) is reached by no loss: remove it from {name} "
        "(or check that the model uses it)"
    )


def _grad(
    output: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    retain_graph: bool,
    grad_outputs: torch.Tensor | None = None,
    batched: bool = False,
) -> tuple[torch.Tensor | None, ...]:
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


def _sum_task(acc: list[torch.Tensor | None], grads: Sequence[torch.Tensor | None]) -> None:
    for t, g in enumerate(grads):
        if g is not None:
            flat = g.reshape(-1)
            acc[t] = flat if acc[t] is None else acc[t] + flat  # type: ignore[operator]


# ------------------------------------------------------------------------------ extraction


def _extract_autograd(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    retain_graph: bool,
) -> _Extracted:
    """K backward passes: the group extraction with every objective touching every block."""
    everything = _everything(len(losses), len(params))
    return _extract_groups(losses, params, task, everything, retain_graph)


def _extract_batched(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    retain_graph: bool,
) -> _Extracted:
    """One batched backward over a K×K identity of cotangents (the batched group extraction
    with every objective touching every block: each round is one objective)."""
    everything = _everything(len(losses), len(params))
    return _extract_groups_batched(losses, params, task, everything, retain_graph)


def _everything(k: int, n_params: int) -> list[list[int]]:
    return [list(range(n_params))] * k


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


def _sum_losses(losses: Sequence[torch.Tensor], indices: Sequence[int]) -> torch.Tensor:
    """``Σ_{i ∈ indices} L_i`` (``indices`` non-empty)."""
    total = losses[indices[0]]
    for i in indices[1:]:
        total = total + losses[i]
    return total


def _extract_groups(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    groups: list[list[int]],
    retain_graph: bool,
) -> _Extracted:
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
    task_acc: list[torch.Tensor | None] = [None] * len(task)
    rounds = _rounds(groups)
    for n, objectives in enumerate(rounds):
        owner = {b: i for i in objectives for b in groups[i]}
        blocks = sorted(owner)
        grads = _grad(
            _sum_losses(losses, objectives),
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
        _sum_task(task_acc, grads[len(blocks) :])
        del grads
    for b, ok in enumerate(reached):
        if not ok:
            raise _unreached(b, params[b])
    return _Extracted(mats, [_rows(r, len(losses)) for r in rows], task_acc, len(rounds))


def _extract_groups_batched(
    losses: list[torch.Tensor],
    params: list[torch.Tensor],
    task: list[torch.Tensor],
    groups: list[list[int]],
    retain_graph: bool,
) -> _Extracted:
    """The rounds of `_extract_groups` as the rows of **one** batched backward: cotangent
    ``e_n`` on ``Σ_{i ∈ round n} L_i``. A parameter's row ``n`` is the gradient of the
    objective of round ``n`` that declared it (a view when every round declares it)."""
    rounds = _rounds(groups)
    stacked = torch.stack([_sum_losses(losses, objectives).reshape(()) for objectives in rounds])
    eye = torch.eye(len(rounds), dtype=stacked.dtype, device=stacked.device)
    try:
        grads = _grad(stacked, [*params, *task], retain_graph, grad_outputs=eye, batched=True)
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
            raise _unreached(b, params[b])
        declared = [n for n, owner in enumerate(owners) if b in owner]
        flat = g.reshape(len(rounds), -1)
        mats.append(flat if len(declared) == len(rounds) else flat[declared])
        rows.append(_rows([owners[n][b] for n in declared], len(losses)))
    task_acc: list[torch.Tensor | None] = [
        None if g is None else g.sum(0).reshape(-1) for g in grads[len(params) :]
    ]
    return _Extracted(mats, rows, task_acc, 1)


# -------------------------------------------------------------------------------- Gramian


# Columns per chunk of a block's Gramian: partial products of this length run in the block's
# dtype, and the chunks are summed in float64.
_CHUNK = 1 << 15
# Blocks narrower than this are packed together before their product (see `_gramian`).
_SMALL_BLOCK = 1 << 12


def _partials(d: int) -> list[tuple[int, int, int]]:
    """``(start, stop, n)`` column ranges of a block of d columns and their number of partial
    products: ``n >= 2`` chunks of `_CHUNK` columns (one batched product), then the remainder
    (one product); a block under two chunks is one product."""
    n = d // _CHUNK
    if n < 2:
        return [(0, d, 1)]
    head = [(0, n * _CHUNK, n)]
    return [*head, (n * _CHUNK, d, 1)] if d > n * _CHUNK else head


def _block_products(blocks: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_b m_b m_bᵀ`` in float64 for (K, d_b) blocks of one dtype and device.

    Every partial product is written into one preallocated stack in the blocks' dtype (``m
    mᵀ`` of a short block; one product per column chunk of a long block, through a view; its
    remainder), and the stack is summed once in float64: the rounding error grows with the
    chunk length, not with d, and a block costs one or two kernels whatever its length.
    """
    k = blocks[0].shape[0]
    plans = [_partials(m.shape[1]) for m in blocks]
    total = sum(n for plan in plans for _, _, n in plan)
    parts = torch.empty((total, k, k), dtype=blocks[0].dtype, device=blocks[0].device)
    i = 0
    for m, plan in zip(blocks, plans, strict=True):
        for a, b, n in plan:
            if n == 1:
                torch.mm(m[:, a:b], m[:, a:b].T, out=parts[i])
            else:
                chunks = m[:, a:b].reshape(k, n, _CHUNK).transpose(0, 1)  # (n, K, chunk)
                torch.bmm(chunks, chunks.transpose(1, 2), out=parts[i : i + n])
            i += n
    return parts.to(torch.float64).sum(dim=0)


def _gramian(
    mats: Sequence[torch.Tensor], rows: Sequence[Rows], k: int, device: torch.device
) -> torch.Tensor:
    """``Σ_b J_b J_bᵀ`` in float64; products in the blocks' dtype (at least float32)."""
    gram = torch.zeros((k, k), dtype=torch.float64, device=device)
    # small full-height blocks (biases, norms) are packed per (dtype, device) into one product:
    # one kernel instead of one per parameter tensor; the copy is small by construction
    small: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    pending: list[tuple[torch.Tensor, Rows]] = []
    for m, r in zip(mats, rows, strict=True):
        if m.shape[0] == 0:
            continue
        mc = _compute(m)
        if r is None and mc.shape[1] < _SMALL_BLOCK:
            small.setdefault((mc.dtype, mc.device), []).append(mc)
        else:
            pending.append((mc, r))
    for group in small.values():
        pending.append((group[0] if len(group) == 1 else torch.cat(group, dim=1), None))
    # one stack of partial products per (rows, dtype, device): one or two kernels per block
    stacks: dict[tuple[tuple[int, ...] | None, torch.dtype, torch.device], list[torch.Tensor]] = {}
    for mc, r in pending:
        stacks.setdefault((None if r is None else tuple(r), mc.dtype, mc.device), []).append(mc)
    for (key, _, _), blocks in stacks.items():
        block = _block_products(blocks).to(device=device)
        if key is None:
            gram += block
        else:
            idx = torch.as_tensor(key).to(device, non_blocking=True)  # no synchronization
            gram.index_put_((idx[:, None], idx[None, :]), block, accumulate=True)
    return gram


def gramian(jacobian: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The K×K Gramian ``G = J Jᵀ`` in float64 of a K×d Jacobian or of its (K, d_b) blocks.

    Products run in the blocks' dtype (float16/bfloat16 upcast to float32) and are accumulated
    in float64 on the device of the first block, so a model's Jacobian never has to be
    concatenated: ``G = Σ_b J_b J_bᵀ``.
    """
    blocks = [jacobian] if isinstance(jacobian, torch.Tensor) else list(jacobian)
    if not blocks:
        raise ValueError("jacobian must be a (K, d) tensor or a non-empty list of (K, d_b) blocks")
    k = blocks[0].shape[0] if blocks[0].ndim >= 1 else -1
    for b, m in enumerate(blocks):
        if not isinstance(m, torch.Tensor):
            raise TypeError(f"jacobian block {b} must be a torch.Tensor, got {type(m).__name__}")
        if m.ndim != 2 or m.shape[0] != k:
            raise ValueError(f"jacobian block {b} must have shape ({k}, d_b), got {tuple(m.shape)}")
    return _gramian([m.detach() for m in blocks], [None] * len(blocks), k, blocks[0].device)


def jacobian(
    losses: torch.Tensor | Sequence[torch.Tensor],
    params: Iterable[torch.Tensor],
    extraction: str = "autograd",
    *,
    retain_graph: bool = False,
) -> torch.Tensor:
    """The K×d Jacobian (rows: per-objective gradients over the concatenated ``params``).

    For tests and inspection: it concatenates all parameters (K×d memory). ``extraction`` is
    ``"autograd"`` (K backward passes) or ``"batched"`` (one ``is_grads_batched`` backward).
    ``.grad`` is not touched. A parameter reached by no loss raises ``ValueError``.
    """
    loss_list, _ = check_losses(losses)
    plist = check_params(params, "params")
    if not plist:
        raise ValueError("params must hold at least one tensor, got none")
    if extraction not in ("autograd", "batched"):
        raise ValueError(f"unknown extraction {extraction!r}; valid: 'autograd', 'batched'")
    if extraction == "autograd":
        ext = _extract_autograd(loss_list, plist, [], retain_graph)
    else:
        ext = _extract_batched(loss_list, plist, [], retain_graph)
    return torch.cat([m.detach() for m in ext.mats], dim=1)


# ------------------------------------------------------------------------------- backward


def _host(gram: torch.Tensor | None, f: torch.Tensor) -> tuple[FloatArray | None, FloatArray]:
    """One device→host copy of ``[G | f]`` (or of ``f`` alone)."""
    if gram is None:
        return None, f.cpu().numpy().astype(np.float64, copy=False)
    packed = torch.cat([gram, f.to(gram.device)[:, None]], dim=1).cpu().numpy()
    g = packed[:, :-1]
    return np.ascontiguousarray(0.5 * (g + g.T)), np.ascontiguousarray(packed[:, -1])


def _check_losses_finite(f: FloatArray) -> None:
    bad = np.flatnonzero(~np.isfinite(f))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"loss of objective {i} is not finite: losses[{i}] = {f[i]}")


def _check_gramian_finite(g: FloatArray, what: str = "gradient") -> None:
    diag = np.diag(g)
    bad = np.flatnonzero(~np.isfinite(diag))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"the {what} of objective {i} is not finite (its squared norm is {diag[i]}): "
            "check losses[{i}] for overflow, a division by zero or a log of zero".replace(
                "{i}", str(i)
            )
        )
    if not np.all(np.isfinite(g)):
        raise ValueError(f"the Gramian of the {what}s is not finite (overflow in a product)")


def _weights_tensor(w: FloatArray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(w, dtype=_compute(like).dtype).to(like.device, non_blocking=True)


def _weighted_sum(
    losses: list[torch.Tensor], vector: torch.Tensor | None, w: FloatArray
) -> torch.Tensor:
    stacked = vector if vector is not None else torch.stack(losses)
    wt = torch.as_tensor(w, dtype=stacked.dtype).to(stacked.device, non_blocking=True)
    return (stacked * wt).sum()


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

    Paths by ``rule.needs``:

    - ``"losses"`` (MIMO, linear): weights from the detached loss values (one K-vector copy
      to the host), then one backward of ``Σ w_i L_i`` over the shared parameters (plus one
      over the task parameters only, if any, for ``∇ Σ L_i``, unless they are given per
      objective: see ``task_params``).
    - ``"gramian"``: per-objective gradients by parameter block (see ``extraction`` and
      ``groups``), ``G = Σ_b J_b J_bᵀ`` accumulated in float64 on the device, one copy of
      ``[G | f]`` (K×(K+1)) to the host, ``rule.weights(G, f)`` in float64, then
      ``J_bᵀ w`` written into ``.grad`` on the device in the parameters' dtype.
    - ``"jacobian"`` (MoCo): ``J`` is copied to the host as float64 NumPy,
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
            checked).
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
    method = extraction
    check_extraction(method)
    check_finite = check_bool(check_finite, "check_finite")
    if not isinstance(rule, (str, UpdateRule)):
        raise TypeError(f"rule must be a registry name or an UpdateRule, got {rule!r}")
    rule_obj = get_rule(rule)
    loss_list, vector = check_losses(losses)
    k = len(loss_list)
    params = check_params(shared_params, "shared_params")
    if not params:
        raise ValueError("shared_params must hold at least one tensor, got none")
    task, owner = check_task_params(task_params, k)
    shared_ids = {id(p): i for i, p in enumerate(params)}
    for t, p in enumerate(task):
        if id(p) in shared_ids:
            raise ValueError(
                f"task_params[{t}] is also shared_params[{shared_ids[id(p)]}]: a parameter is "
                "either shared or task-specific"
            )
    group_list = None if groups is None else check_groups(groups, k, len(params))
    if method == "representation":
        if representation is None:
            raise ValueError(
                "extraction='representation' needs representation= (the shared activations "
                "the losses are computed from)"
            )
        reps = (
            [representation]
            if isinstance(representation, torch.Tensor)
            else list(representation)
            if isinstance(representation, Sequence)
            else [representation]
        )
        if not reps:
            raise ValueError("representation must hold at least one tensor, got none")
        for j, rep in enumerate(reps):
            if not isinstance(rep, torch.Tensor) or not rep.requires_grad:
                where = "representation" if len(reps) == 1 else f"representation[{j}]"
                raise ValueError(
                    f"{where} must be a tensor that requires grad (an activation computed "
                    "from shared_params), got "
                    + (describe(rep) if isinstance(rep, torch.Tensor) else repr(rep))
                )
        if group_list is not None:
            raise ValueError("groups cannot be combined with extraction='representation'")
        if rule_obj.needs == "jacobian":
            raise ValueError(
                f"rule {rule_obj.name!r} needs the full Jacobian over the parameters; "
                "extraction='representation' gives only a Gramian"
            )
    active, group, world = resolve_group(process_group)
    f_dev = torch.stack([loss.detach().reshape(()).to(torch.float64) for loss in loss_list])
    call = _Call(
        rule_obj,
        loss_list,
        vector,
        params,
        task,
        owner,
        f_dev,
        retain_graph,
        check_finite,
        active,
        group,
        world,
        {"world_size": world},
    )
    if rule_obj.needs == "losses":
        return _loss_only(call)
    if method == "representation":
        return _representation(call, reps)
    info = call.info

    if group_list is not None and method == "batched":
        ext = _extract_groups_batched(loss_list, params, task, group_list, retain_graph)
        info["extraction"] = "groups+batched"
    elif group_list is not None:
        ext = _extract_groups(loss_list, params, task, group_list, retain_graph)
        info["extraction"] = "groups"
    elif method == "batched":
        ext = _extract_batched(loss_list, params, task, retain_graph)
        info["extraction"] = "batched"
    else:
        ext = _extract_autograd(loss_list, params, task, retain_graph)
        info["extraction"] = "autograd"
    info["backward_passes"] = ext.passes
    mats = ext.mats
    task_grads = ext.task
    if active:
        present = [t for t in task_grads if t is not None]
        reduced = all_reduce_mean([*mats, *present, f_dev], group, world)
        mats = reduced[: len(mats)]
        it = iter(reduced[len(mats) : len(mats) + len(present)])
        task_grads = [None if t is None else next(it) for t in task_grads]
        f_dev = reduced[-1]

    device = params[0].device
    if rule_obj.needs == "jacobian":
        return _jacobian_rule(rule_obj, params, mats, ext.rows, task, task_grads, f_dev, k, info)

    g_host, f_host = _host(_gramian(mats, ext.rows, k, device), f_dev)
    assert g_host is not None
    _check_losses_finite(f_host)
    _check_gramian_finite(g_host)
    start = time.perf_counter()
    result = rule_obj.weights(g_host, f_host)
    rule_time = time.perf_counter() - start
    w = result.weights
    # the weights go to the device once per (rows, device, dtype), as non-blocking copies:
    # indexing a device tensor with a list of rows would be a synchronizing copy per block
    w_dev: dict[tuple[tuple[int, ...] | None, torch.device, torch.dtype], torch.Tensor] = {}
    for p, m, r in zip(params, mats, ext.rows, strict=True):
        mc = _compute(m)
        key = (None if r is None else tuple(r), mc.device, mc.dtype)
        if key not in w_dev:
            w_dev[key] = _weights_tensor(w if r is None else w[r], mc)
        _accumulate(p, torch.mv(mc.T, w_dev[key]))  # gemv: faster than (1×K)@(K×d) on CPU
    _write_task(task, task_grads)
    return _with_gramian(w, g_host, f_host, result, rule_time, info)


def _with_gramian(
    w: FloatArray,
    g_host: FloatArray,
    f_host: FloatArray,
    result: RuleResult,
    rule_time: float,
    info: dict[str, Any],
) -> StepInfo:
    """The `StepInfo` of a step whose rule saw the Gramian ``g_host``."""
    return StepInfo(
        w,
        g_host,
        float(result.residual),
        stationarity(g_host),
        rule_time,
        f_host,
        {**result.info, **info},
    )


def _write_task(task: list[torch.Tensor], grads: Sequence[torch.Tensor | None]) -> None:
    for t, (p, g) in enumerate(zip(task, grads, strict=True)):
        if g is None:
            raise _unreached(t, p, "task_params")
        _accumulate(p, g)


def _jacobian_rule(
    rule: UpdateRule,
    params: list[torch.Tensor],
    mats: list[torch.Tensor],
    rows: list[Rows],
    task: list[torch.Tensor],
    task_grads: Sequence[torch.Tensor | None],
    f_dev: torch.Tensor,
    k: int,
    info: dict[str, Any],
) -> StepInfo:
    """Rules that need the whole Jacobian (MoCo): J to the host as float64 NumPy."""
    sizes = [m.shape[1] for m in mats]
    full = torch.zeros((k, sum(sizes)), dtype=torch.float64, device=params[0].device)
    offset = 0
    for m, r, n in zip(mats, rows, sizes, strict=True):
        block = m.detach().to(full.device, torch.float64)
        if r is None:
            full[:, offset : offset + n] = block
        else:
            full[r, offset : offset + n] = block
        offset += n
    j_host = full.cpu().numpy()
    f_host = f_dev.cpu().numpy()
    _check_losses_finite(f_host)
    g_host = j_host @ j_host.T
    _check_gramian_finite(g_host)
    start = time.perf_counter()
    d, result = rule.direction(j_host, f_host)
    rule_time = time.perf_counter() - start
    d_dev = torch.from_numpy(np.ascontiguousarray(d))
    offset = 0
    for p, n in zip(params, sizes, strict=True):
        _accumulate(p, d_dev[offset : offset + n].to(p.device))
        offset += n
    _write_task(task, task_grads)
    return _with_gramian(result.weights, g_host, f_host, result, rule_time, info)


def _check_grads_finite(grads: Sequence[torch.Tensor], params: Sequence[torch.Tensor]) -> None:
    """One synchronization: are all gradients finite? If not, name the first bad parameter."""
    if not grads:
        return
    dev = grads[0].device
    # one reduction per tensor and one synchronization; a sum is non-finite when an entry is
    # (or when it overflows, which the exact check below then clears)
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


def _loss_only(call: _Call) -> StepInfo:
    """Loss-only rules: weights from the loss values, one backward of ``Σ w_i L_i``."""
    f_dev = call.reduce([call.f_dev])[0]
    _, f_host = _host(None, f_dev)
    _check_losses_finite(f_host)
    start = time.perf_counter()
    result = call.rule.weights(None, f_host)
    rule_time = time.perf_counter() - start
    w = result.weights
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
    call.info.update(extraction="losses", backward_passes=passes)
    return StepInfo(
        w, None, float(result.residual), None, rule_time, f_host, {**result.info, **call.info}
    )


def _present(
    grads: Sequence[torch.Tensor | None], tensors: Sequence[torch.Tensor], name: str
) -> list[torch.Tensor]:
    """The gradients, or the error naming the first tensor no loss reached."""
    out: list[torch.Tensor] = []
    for i, g in enumerate(grads):
        if g is None:
            raise _unreached(i, tensors[i], name)
        out.append(g)
    return out


def _loss_only_heads(
    call: _Call, owner: list[int], w: FloatArray
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """One backward of ``Σ w_i L_i`` over shared and head parameters; head ``i``'s gradient is
    ``w_i ∇L_i`` there, divided by ``w_i``. Heads of objectives with ``w_i = 0`` get one more
    backward of their own losses."""
    params, task = call.params, call.task
    fast = [t for t in range(len(task)) if w[owner[t]] != 0.0]
    slow = [t for t in range(len(task)) if w[owner[t]] == 0.0]
    inputs = [*params, *(task[t] for t in fast)]
    got = _grad(call.weighted(w), inputs, call.retain_graph or bool(slow))
    grads = _present(got[: len(params)], params, "shared_params")
    task_grads: list[torch.Tensor | None] = [None] * len(task)
    for t, g in zip(fast, got[len(params) :], strict=True):
        if g is None:
            raise _unreached(t, task[t], "task_params")
        task_grads[t] = g / float(w[owner[t]])
    passes = 1
    if slow:
        zero = sorted({owner[t] for t in slow})
        got_slow = _grad(_sum_losses(call.losses, zero), [task[t] for t in slow], call.retain_graph)
        for t, g in zip(slow, got_slow, strict=True):
            if g is None:
                raise _unreached(t, task[t], "task_params")
            task_grads[t] = g
        passes += 1
    return grads, [g for g in task_grads if g is not None], passes


def _loss_only_flat(
    call: _Call, w: FloatArray
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """Shared parameters: one backward of ``Σ w_i L_i``; task parameters: one backward of
    ``Σ_i L_i`` over them only."""
    passes = 1
    task_grads: list[torch.Tensor] = []
    if call.task:
        task_grads = _present(_grad(call.total(), call.task, True), call.task, "task_params")
        passes += 1
    got = _grad(call.weighted(w), call.params, call.retain_graph)
    return _present(got, call.params, "shared_params"), task_grads, passes


def _representation(call: _Call, reps: list[torch.Tensor]) -> StepInfo:
    """MGDA-UB: the Gramian of the gradients w.r.t. the representation(s) chooses ``w``."""
    k = len(call.losses)
    rows = [torch.zeros((k, rep.numel()), dtype=rep.dtype, device=rep.device) for rep in reps]
    for i, loss in enumerate(call.losses):
        got = _grad(loss, reps, True)
        if all(g is None for g in got):
            what = "the representation" if len(reps) == 1 else "any representation tensor"
            raise ValueError(f"losses[{i}] does not depend on {what}")
        for r, g in enumerate(got):
            if g is not None:
                rows[r][i].copy_(g.reshape(-1))
    gram = _gramian(rows, [None] * len(rows), k, reps[0].device)
    del rows
    f_dev = call.f_dev
    if call.active:
        # each rank's batch-mean loss is 1/world of the global mean's: G = Σ_r G_r / world²
        gram = all_reduce_sum_(gram, call.group).div_(call.world * call.world)
        f_dev = call.reduce([f_dev])[0]
    g_host, f_host = _host(gram, f_dev)
    assert g_host is not None
    _check_losses_finite(f_host)
    _check_gramian_finite(g_host, "gradient with respect to the representation")
    start = time.perf_counter()
    result = call.rule.weights(g_host, f_host)
    rule_time = time.perf_counter() - start
    w = result.weights
    task_grads: list[torch.Tensor] = []
    passes = k + 1
    if call.task:
        task_grads = _present(_grad(call.total(), call.task, True), call.task, "task_params")
        passes += 1
    got = _grad(call.weighted(w), call.params, call.retain_graph)
    grads = _present(got, call.params, "shared_params")
    reduced = call.reduce([*grads, *task_grads])
    for p, g in zip([*call.params, *call.task], reduced, strict=True):
        _accumulate(p, g)
    call.info.update(extraction="representation", backward_passes=passes)
    return _with_gramian(w, g_host, f_host, result, rule_time, call.info)
