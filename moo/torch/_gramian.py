"""The K×K Gramian ``G = Σ_b J_b J_bᵀ`` of per-objective gradients, accumulated in float64.

The Jacobian arrives as blocks (one per parameter tensor, each ``(rows, d_b)`` in the
parameter's dtype) and is never concatenated: each block's product runs on its device in its
dtype (float16/bfloat16 upcast to float32), long blocks in chunks, and the partial products are
summed in float64. `gramian` is the public entry point; `block_gramian` serves `backward`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Rows = list[int] | None  # objective indices of a block's rows (None: all K, in order)

# Columns per chunk of a block's Gramian: partial products of this length run in the block's
# dtype, and the chunks are summed in float64.
_CHUNK = 1 << 15
# Blocks narrower than this are packed together before their product (see `block_gramian`).
_SMALL_BLOCK = 1 << 12


def upcast(m: torch.Tensor) -> torch.Tensor:
    """``m`` in a dtype fit for products: float16/bfloat16 upcast to float32."""
    return m if m.dtype in (torch.float32, torch.float64) else m.float()


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


def block_gramian(
    mats: Sequence[torch.Tensor], rows: Sequence[Rows], k: int, device: torch.device
) -> torch.Tensor:
    """``Σ_b J_b J_bᵀ`` in float64 on ``device``; products in the blocks' dtype (at least
    float32). Block ``b`` holds the rows ``rows[b]`` of J (``None``: all K, in order); the
    other entries of its product are known zeros."""
    gram = torch.zeros((k, k), dtype=torch.float64, device=device)
    # small full-height blocks (biases, norms) are packed per (dtype, device) into one product:
    # one kernel instead of one per parameter tensor; the copy is small by construction
    small: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    pending: list[tuple[torch.Tensor, Rows]] = []
    for m, r in zip(mats, rows, strict=True):
        if m.shape[0] == 0:
            continue
        mc = upcast(m)
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
    return block_gramian([m.detach() for m in blocks], [None] * len(blocks), k, blocks[0].device)
