"""The PyTorch bridge: multi-objective steps in any training loop.

`backward` replaces ``loss.backward()``: it extracts the K per-objective gradients of the
shared parameters, forms the K×K Gramian on the device (float64 accumulation), lets an
`moo.UpdateRule` choose the weights on the host, and writes ``d = Jᵀw`` into ``.grad``. With
``torch.distributed`` initialized it averages the per-objective gradients over the ranks first,
so every rank computes the same weights. `jacobian` and `gramian` are the building blocks, for
tests and inspection.

Importing this package imports torch (the rest of `moo` does not).
"""

from moo.torch._backward import StepInfo, backward, gramian, jacobian

__all__ = ["StepInfo", "backward", "gramian", "jacobian"]
