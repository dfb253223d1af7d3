"""All-reduce helpers for data-parallel training with `torch.distributed`."""

from __future__ import annotations

from typing import Any

import torch


def resolve_group(process_group: Any) -> tuple[bool, Any, int]:
    """``(active, group, world_size)``: active when a group is given or the default group is up."""
    if process_group is not None:
        import torch.distributed as dist

        return True, process_group, int(dist.get_world_size(process_group))
    if not torch.distributed.is_available():
        return False, None, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        return False, None, 1
    return True, None, int(dist.get_world_size())


def all_reduce_mean(tensors: list[torch.Tensor], group: Any, world_size: int) -> list[torch.Tensor]:
    """Average ``tensors`` over the ranks: one flat bucket (one collective) per dtype and device.

    Returns new tensors of the same shapes (the inputs are not modified).
    """
    import torch.distributed as dist

    out: list[torch.Tensor | None] = [None] * len(tensors)
    buckets: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, t in enumerate(tensors):
        buckets.setdefault((t.dtype, t.device), []).append(i)
    for index in buckets.values():
        flat = torch.cat([tensors[i].reshape(-1) for i in index])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        flat.div_(world_size)
        offset = 0
        for i in index:
            n = tensors[i].numel()
            out[i] = flat[offset : offset + n].view(tensors[i].shape)
            offset += n
    return [t for t in out if t is not None]


def all_reduce_sum_(tensor: torch.Tensor, group: Any) -> torch.Tensor:
    """Sum ``tensor`` over the ranks in place and return it."""
    import torch.distributed as dist

    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    return tensor
