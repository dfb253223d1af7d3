"""The public `jacobian` helper: the dense K×d Jacobian, for tests and inspection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from moo.torch._checks import check_losses, check_params
from moo.torch._extract import extract


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
    ``.grad`` is not touched. A parameter reached by no loss, or a loss that reaches none of
    ``params``, raises ``ValueError`` (with either extraction).
    """
    loss_list, _ = check_losses(losses)
    plist = check_params(params, "params")
    if not plist:
        raise ValueError("params must hold at least one tensor, got none")
    if extraction not in ("autograd", "batched"):
        raise ValueError(f"unknown extraction {extraction!r}; valid: 'autograd', 'batched'")
    ext = extract(
        loss_list,
        plist,
        [],
        groups=None,
        batched=extraction == "batched",
        retain_graph=retain_graph,
    )
    full = torch.cat([m.detach() for m in ext.mats], dim=1)
    if ext.verify is not None:  # batched: a loss that reaches no parameter has a zero row
        zero = torch.nonzero(~full.any(dim=1)).flatten().tolist()
        if zero:
            ext.verify(zero)
    return full
