"""Input checks of the torch bridge: messages name the argument, the index and the value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from moo.solvers import UpdateRule, get_rule

EXTRACTIONS: tuple[str, ...] = ("auto", "autograd", "batched", "representation")


def describe(p: torch.Tensor) -> str:
    """``shape (…), dtype …`` of a tensor, for messages."""
    return f"shape {tuple(p.shape)}, dtype {str(p.dtype).replace('torch.', '')}"


def check_losses(losses: Any) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """The K scalar losses as a list, and the 1-D tensor they came from (if one was given)."""
    if isinstance(losses, torch.Tensor):
        if losses.ndim != 1:
            raise ValueError(
                "losses must be a sequence of K scalar tensors or a 1-D tensor of K losses, "
                f"got a tensor of shape {tuple(losses.shape)}"
            )
        if losses.shape[0] == 0:
            raise ValueError("losses must hold at least one objective (K >= 1), got K = 0")
        if not losses.is_floating_point():
            raise ValueError(f"losses must be real floating-point, got dtype {losses.dtype}")
        if not losses.requires_grad:
            raise ValueError(
                "losses does not require grad (no grad_fn): compute the losses from the "
                "parameters outside torch.no_grad() and without .detach()"
            )
        return list(losses.unbind(0)), losses
    if isinstance(losses, (str, bytes)) or not isinstance(losses, Iterable):
        raise TypeError(
            f"losses must be a sequence of K scalar tensors or a 1-D tensor, got {losses!r}"
        )
    items = list(losses)
    if not items:
        raise ValueError("losses must hold at least one objective (K >= 1), got K = 0")
    out: list[torch.Tensor] = []
    for i, loss in enumerate(items):
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"losses[{i}] must be a torch.Tensor, got {type(loss).__name__}")
        if loss.numel() != 1 or loss.ndim > 1:
            raise ValueError(
                f"losses[{i}] must be a scalar tensor, got shape {tuple(loss.shape)} "
                "(reduce it, e.g. with .mean())"
            )
        if not loss.is_floating_point():
            raise ValueError(f"losses[{i}] must be real floating-point, got dtype {loss.dtype}")
        if not loss.requires_grad:
            raise ValueError(
                f"losses[{i}] does not require grad (no grad_fn): compute it from the "
                "parameters outside torch.no_grad() and without .detach()"
            )
        out.append(loss if loss.ndim == 0 else loss.reshape(()))
    return out, None


def check_params(params: Any, name: str) -> list[torch.Tensor]:
    """A list of tensors that require grad (duplicates rejected)."""
    if isinstance(params, torch.Tensor):
        params = [params]
    if params is None or isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(f"{name} must be an iterable of tensors, got {params!r}")
    out = list(params)
    seen: dict[int, int] = {}
    for i, p in enumerate(out):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name}[{i}] must be a torch.Tensor, got {type(p).__name__}")
        if not p.requires_grad:
            raise ValueError(f"{name}[{i}] ({describe(p)}) does not require grad")
        if p.is_complex():
            raise ValueError(
                f"{name}[{i}] ({describe(p)}) is complex: the rules weigh real gradients "
                "(split it into real and imaginary parts)"
            )
        if p.is_meta:  # (not p.device.type: a device object per call, 8× slower)
            raise ValueError(
                f"{name}[{i}] ({describe(p)}) is on the meta device (a shape without data): "
                "materialize the model first, e.g. model.to_empty(device=...) and initialize it"
            )
        if id(p) in seen:
            raise ValueError(f"{name}[{i}] is the same tensor as {name}[{seen[id(p)]}]")
        seen[id(p)] = i
    return out


def check_rule(rule: Any) -> UpdateRule:
    """A registry name (a fresh rule with default hyperparameters) or an `UpdateRule`."""
    if not isinstance(rule, (str, UpdateRule)):
        raise TypeError(f"rule must be a registry name or an UpdateRule, got {rule!r}")
    return get_rule(rule)


def check_shared(shared_params: Any) -> list[torch.Tensor]:
    """The shared parameters: at least one tensor that requires grad (duplicates rejected)."""
    params = check_params(shared_params, "shared_params")
    if not params:
        raise ValueError("shared_params must hold at least one tensor, got none")
    return params


def check_disjoint(params: list[torch.Tensor], task: list[torch.Tensor]) -> None:
    """A parameter is either shared or task-specific."""
    shared_ids = {id(p): i for i, p in enumerate(params)}
    for t, p in enumerate(task):
        if id(p) in shared_ids:
            raise ValueError(
                f"task_params[{t}] is also shared_params[{shared_ids[id(p)]}]: a parameter is "
                "either shared or task-specific"
            )


def check_task_params(task_params: Any, k: int) -> tuple[list[torch.Tensor], list[int] | None]:
    """Task parameters, flat (``None`` owners) or given per objective (the owner of each).

    Per objective means a sequence of K iterables of tensors: ``task_params[i]`` holds the
    parameters that only objective ``i`` reaches (its head). ``backward`` finds them from the
    losses' graphs when ``task_params`` is not given (`moo.torch._extract.task_leaves`) and
    calls this for a given value only; ``[]`` (and ``None`` here) means none.
    """
    if task_params is None:
        return [], None
    if isinstance(task_params, torch.Tensor):
        return check_params(task_params, "task_params"), None
    items = list(task_params) if isinstance(task_params, Iterable) else task_params
    if not isinstance(items, list) or not items or isinstance(items[0], torch.Tensor):
        return check_params(items, "task_params"), None
    if len(items) != k:
        raise ValueError(
            f"task_params given per objective must have one entry per objective (K = {k}), "
            f"got {len(items)}"
        )
    flat: list[torch.Tensor] = []
    owner: list[int] = []
    where: dict[int, int] = {}  # a tensor listed under two objectives
    for i, sub in enumerate(items):
        tensors = check_params(sub, f"task_params[{i}]")
        for p in tensors:
            if id(p) in where:
                raise ValueError(
                    f"task_params[{len(flat)}] is the same tensor as task_params[{where[id(p)]}] "
                    f"(listed under objectives {owner[where[id(p)]]} and {i})"
                )
            where[id(p)] = len(flat)
            flat.append(p)
            owner.append(i)
    return flat, owner


def check_groups(groups: Any, k: int, n_params: int) -> list[list[int]]:
    """K lists of indices into the shared parameters; every parameter in some group."""
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise TypeError(f"groups must be a list of K lists of parameter indices, got {groups!r}")
    if len(groups) != k:
        raise ValueError(f"groups must have one entry per objective (K = {k}), got {len(groups)}")
    out: list[list[int]] = []
    covered = [False] * n_params
    for i, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or not isinstance(group, Iterable):
            raise TypeError(f"groups[{i}] must be a list of parameter indices, got {group!r}")
        idx: list[int] = []
        for j in group:
            if isinstance(j, bool) or not isinstance(j, int):
                if not (hasattr(j, "__index__") and not isinstance(j, bool)):
                    raise TypeError(f"groups[{i}] must hold integer indices, got {j!r}")
            jj = int(j)
            if not 0 <= jj < n_params:
                raise ValueError(
                    f"groups[{i}] holds index {jj}, out of range for {n_params} shared parameters"
                )
            idx.append(jj)
        if not idx:
            raise ValueError(f"groups[{i}] is empty: objective {i} must touch a shared parameter")
        if len(set(idx)) != len(idx):
            raise ValueError(f"groups[{i}] holds repeated indices: {idx}")
        for jj in idx:
            covered[jj] = True
        out.append(sorted(idx))
    missing = [j for j, c in enumerate(covered) if not c]
    if missing:
        raise ValueError(
            f"shared_params[{missing[0]}] is in no group: every shared parameter must belong to "
            "the group of at least one objective"
        )
    return out


def check_representation(representation: Any, has_groups: bool) -> list[torch.Tensor]:
    """The representation tensor(s) of ``extraction="representation"`` (not combined with
    ``groups``)."""
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
    if has_groups:
        raise ValueError("groups cannot be combined with extraction='representation'")
    return reps


def check_extraction(extraction: Any) -> str:
    if extraction not in EXTRACTIONS:
        raise ValueError(
            f"unknown extraction {extraction!r}; valid: {', '.join(repr(e) for e in EXTRACTIONS)}"
        )
    return str(extraction)
