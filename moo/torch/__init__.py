"""The PyTorch bridge: multi-objective steps in any training loop.

`backward` replaces ``loss.backward()``: it extracts the K per-objective gradients of the
shared parameters, forms the K×K Gramian on the device (float64 accumulation), lets an
`moo.UpdateRule` choose the weights on the host, and writes ``d = Jᵀw`` into ``.grad``. With
``torch.distributed`` initialized it averages the per-objective gradients over the ranks first,
so every rank computes the same weights. `jacobian` and `gramian` are the building blocks, for
tests and inspection.

The modules, each with one job:

- ``_backward``: `backward`: the argument checks, then the choice of path (`_path_for`).
- ``_paths``: the step paths (loss-only, Gramian, representation, Jacobian), each taking
  one record of the call's validated inputs, and the write-back into ``.grad``.
- ``_extract``: per-objective gradient extraction (autograd, batched, groups, representation),
  and the task parameters found from the losses' graphs when not declared.
- ``_gramian``: the float64 Gramian of gradient blocks, and the public `gramian`.
- ``_host``: the one host-side step of every path (copy to the host, check finite, the timed
  rule call) and the public `StepInfo`.
- ``_jacobian``: the public `jacobian` helper.
- ``_checks``: the argument checks (messages name the argument, the index and the value).
- ``_distributed``: the all-reduce helpers for ``torch.distributed``.

Importing this package imports torch (the rest of `moo` does not).
"""

from moo.torch._backward import backward
from moo.torch._gramian import gramian
from moo.torch._host import StepInfo
from moo.torch._jacobian import jacobian

__all__ = ["StepInfo", "backward", "gramian", "jacobian"]
