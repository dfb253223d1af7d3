"""Data-parallel training of the adapter with `torch.distributed`: ranks, shards, reductions.

The trainer (`moo_multimodal.training.fit`) trains data-parallel whenever the default process
group is initialized with more than one process: ``torchrun ... -m moo_multimodal train``
initializes it from torchrun's environment (`init_from_env`); a program of one's own may call
``torch.distributed.init_process_group`` itself before `fit`. Every rank holds the whole model
and the same optimizer, method and random streams; the global batch of each step is split into
contiguous shards (`shard_bounds`), and each method averages over the ranks what it must
(see docs/multimodal-gpus.md).

Collectives here run on the default group.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

T = TypeVar("T")

# torchrun's environment variables
_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the default process group.

    Attributes:
        rank: its global rank (0 is the one that writes files).
        world_size: the number of processes (1: no data parallelism).
        local_rank: its rank on its node (its GPU index under torchrun).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """More than one process trains."""
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """This is rank 0, the one that writes the run folder."""
        return self.rank == 0


def current() -> Ranks:
    """The default group's ranks when `torch.distributed` is initialized, else one process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return Ranks()
    import torch.distributed as dist

    local = _env_int("LOCAL_RANK", default=dist.get_rank())
    return Ranks(int(dist.get_rank()), int(dist.get_world_size()), local)


def _env_int(name: str, *, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None
    if number < 0:
        raise ValueError(f"environment variable {name}={value!r} must be >= 0")
    return number


def init_from_env(device: str) -> Ranks:
    """Initialize the default process group from torchrun's environment when ``WORLD_SIZE``
    is above 1 (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``):
    backend ``nccl`` when ``device`` is a CUDA device (and this process's GPU becomes
    ``cuda:LOCAL_RANK``), ``gloo`` otherwise. Nothing happens with ``WORLD_SIZE`` unset or 1,
    or when the group is initialized already.

    Args:
        device: the run's device string (``cpu`` or ``cuda``; under several processes a CUDA
            device must not name an index: each process takes ``cuda:LOCAL_RANK``).

    Returns:
        the ranks (one process when no group was initialized).

    Raises:
        ValueError: a malformed variable, ``RANK``/``LOCAL_RANK`` out of range, a CUDA
            ``device`` with an index under several processes, fewer GPUs than local ranks.
    """
    world = _env_int("WORLD_SIZE", default=1)
    if world < 1:
        raise ValueError(f"environment variable WORLD_SIZE={world} must be >= 1")
    if world == 1:
        return current()
    rank = _env_int("RANK", default=-1)
    local = _env_int("LOCAL_RANK", default=-1)
    if not 0 <= rank < world:
        raise ValueError(
            f"environment variable RANK={os.environ.get('RANK')!r} must lie in [0, {world})"
        )
    if not 0 <= local < world:
        raise ValueError(
            f"environment variable LOCAL_RANK={os.environ.get('LOCAL_RANK')!r} must lie in "
            f"[0, {world})"
        )
    if not torch.distributed.is_available():
        raise ValueError(f"WORLD_SIZE={world}: this torch build has no torch.distributed support")
    import torch.distributed as dist

    if dist.is_initialized():
        return current()
    import_compiler()
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is not None:
            raise ValueError(
                f"device {device!r}: with {world} processes give --device cuda without an index "
                "(each process uses cuda:LOCAL_RANK)"
            )
        count = torch.cuda.device_count()
        if local >= count:
            raise ValueError(
                f"LOCAL_RANK={local} but this node has {count} CUDA GPU(s): start at most "
                f"{count} processes per node (--nproc-per-node)"
            )
        torch.cuda.set_device(local)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    elif dev.type == "cpu":
        dist.init_process_group("gloo")
    else:
        raise ValueError(
            f"device {device!r}: training on several processes supports 'cpu' (gloo) and "
            "'cuda' (nccl)"
        )
    return current()


def import_compiler() -> None:
    """Import torch's compiler stack (``torch._dynamo``) now: call it before
    ``torch.distributed.init_process_group``.

    ``torch.optim`` imports that stack at the first optimizer. Imported while a gloo group
    exists, it keeps the group alive after ``destroy_process_group`` (torch 2.13), so gloo's
    worker threads run on into interpreter shutdown, where one that frees a finished
    collective's tensors aborts the process ("terminate called without an active
    exception"): a finished run whose process exits with SIGABRT (3 to 7 of 15 two-process
    runs of the trainer per method on this project's CPU machine). Imported before the group
    exists, it holds no group and every run exits cleanly. `init_from_env` calls it; so
    should a program that initializes its own group before building its optimizer.
    """
    import torch._dynamo  # noqa: F401


def shutdown() -> None:
    """Destroy the default process group if it is initialized."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(lo, hi)``: rank ``rank``'s contiguous share of ``n`` samples. The first
    ``n mod world_size`` ranks take one sample more than the others."""
    base, extra = divmod(n, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def _device_of(tensor: torch.Tensor) -> torch.device:
    return tensor.device


def all_reduce_mean_(tensors: Iterable[torch.Tensor]) -> None:
    """Average ``tensors`` over the ranks, in place: one flat bucket (one collective) per
    dtype and device. Every rank must pass tensors of the same shapes in the same order."""
    import torch.distributed as dist

    world = dist.get_world_size()
    buckets: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        buckets.setdefault((t.dtype, _device_of(t)), []).append(t)
    for group in buckets.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(world)
        offset = 0
        for t in group:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the ranks in place and return it."""
    import torch.distributed as dist

    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Average the ``.grad`` of ``params`` over the ranks (what DistributedDataParallel does
    after a backward pass); parameters without a gradient are skipped (every rank runs the
    same graph, so they are the same on every rank)."""
    all_reduce_mean_(p.grad for p in params if p.grad is not None)


def broadcast_module_(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (one collective per tensor)."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=src)


def sync_batch_norm_(module: torch.nn.Module, device: str | torch.device) -> int:
    """Make every batch-norm layer of ``module`` synchronized over the ranks (in place; the
    same parameter and buffer tensors, the same ``state_dict`` keys): under several
    processes each then normalizes a training batch with the statistics of the global batch,
    as one process does. Returns the number of synchronized layers.

    On CUDA the layers become ``torch.nn.SyncBatchNorm`` (torch's, NCCL); elsewhere, where
    torch's refuses to run (CPU tensors), `GlobalBatchNorm`. With one process (or in
    ``eval()``) either computes what ``BatchNorm`` does. ``module`` itself must not be a
    batch-norm layer."""
    if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        raise TypeError(f"module must contain the batch-norm layers, got one: {module!r}")
    if torch.device(device).type == "cuda":
        converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)  # type: ignore[no-untyped-call]
        assert converted is module  # containers are converted in place
        return sum(isinstance(m, torch.nn.SyncBatchNorm) for m in module.modules())
    _to_global_batch_norm(module)
    return sum(isinstance(m, GlobalBatchNorm) for m in module.modules())


def _to_global_batch_norm(module: torch.nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, GlobalBatchNorm | torch.nn.SyncBatchNorm):
            continue
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            layer = GlobalBatchNorm(
                child.num_features,
                eps=child.eps,
                momentum=child.momentum,
                affine=child.affine,
                track_running_stats=child.track_running_stats,
            )
            layer.weight, layer.bias = child.weight, child.bias
            layer.running_mean, layer.running_var = child.running_mean, child.running_var
            layer.num_batches_tracked = child.num_batches_tracked
            layer.train(child.training)
            setattr(module, name, layer)
        else:
            _to_global_batch_norm(child)


class _AllReduceSum(torch.autograd.Function):
    """``Σ_ranks x`` with its gradient: the sum over the ranks of the output's gradients (the
    derivative of the global objective, of which each rank holds its part)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        try:
            torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
        except RuntimeError as exc:  # a collective has no rule under vmap
            if "Batching rule not implemented" not in str(exc):
                raise
            raise RuntimeError(
                "a synchronized batch-norm layer cannot run in a batched backward pass "
                "(is_grads_batched, the methods' extraction='batched'): use the default "
                "extraction"
            ) from exc
        return out


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable ``Σ_ranks tensor`` (`_AllReduceSum`)."""
    out: torch.Tensor = _AllReduceSum.apply(tensor)  # type: ignore[no-untyped-call]
    return out


class GlobalBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """Batch normalization over the global batch of all ranks, on any device (the CPU and
    gloo included, where ``torch.nn.SyncBatchNorm`` does not run).

    In training with several processes, per channel: ``μ = Σ x / M`` and ``σ² = Σ (x − μ)² /
    M`` over the ``M`` entries of every rank's shard, ``y = γ (x − μ) / sqrt(σ² + ε) + β``.
    One all-reduce of ``[Σ (x − K), Σ (x − K)², M]`` gives both (``σ² = Σ (x − K)² / M −
    (μ − K)²``), shifted by ``K`` = the running mean (the same on every rank, and near ``μ``,
    so the difference cancels little; 0 without running statistics). The running statistics
    take ``μ`` and the unbiased ``σ² M / (M − 1)``, the same on every rank. The all-reduce
    is differentiable (its gradient is the all-reduce of the output's gradients: one more per
    backward pass), so every rank's backward pass sees the global batch, as one process's
    does (Ioffe & Szegedy 2015; the synchronized variant of Zhang et al., "Context Encoding
    for Semantic Segmentation", CVPR 2018). Inputs of a lower precision are normalized in
    float32 and returned in their dtype. With one process, or in ``eval()``, it is
    ``BatchNorm``. Any input of 2 or more dimensions ``(N, C, ...)``.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input of 2 or more dimensions, got {input.dim()}-D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not (self.training and current().distributed):
            return super().forward(input)
        return self._global_forward(input)

    def _global_forward(self, input: torch.Tensor) -> torch.Tensor:
        x = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        # shifted sums: Σ (x − K) and Σ (x − K)² about K = the running mean (the same on every
        # rank, near the batch mean, so the variance below cancels little), and the count:
        # one all-reduce forward, one backward
        if self.running_mean is not None:
            shift = self.running_mean.detach().to(x.dtype).view(shape)
        else:
            shift = x.new_zeros(channels).view(shape)
        moved = x - shift
        local = torch.cat(
            [
                moved.sum(dims),
                (moved * moved).sum(dims),
                x.new_full((1,), x.numel() / channels),
            ]
        )
        total = _all_reduce_sum(local)
        count = total[-1].detach()
        if float(count) <= 1.0:  # BatchNorm's rule, over the global batch
            raise ValueError(
                f"expected more than 1 value per channel when training, got {int(count)} over "
                f"all ranks (input of shape {tuple(input.shape)} here)"
            )
        offset = total[:channels] / count  # μ − K
        var = (total[channels : 2 * channels] / count - offset * offset).clamp_min(0.0)
        mean = shift.view(-1) + offset
        centered = moved - offset.view(shape)
        y = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean.detach(), var.detach(), float(count))
        out: torch.Tensor = y.to(input.dtype)
        return out

    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as BatchNorm's
                factor = 1.0 / float(self.num_batches_tracked)
            else:
                factor = self.momentum
            unbiased = var * (count / (count - 1.0))
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


def broadcast_buffers_(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (batch-norm running statistics) to every rank."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in module.buffers():
            dist.broadcast(t.data, src=src)


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (pickled; for small objects and checkpoints)."""
    import torch.distributed as dist

    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]  # type: ignore[no-any-return]


def gather_object(obj: T, dst: int = 0) -> list[T] | None:
    """Every rank's ``obj`` (pickled), in rank order, on rank ``dst``; ``None`` elsewhere."""
    import torch.distributed as dist

    box: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == dst else None
    dist.gather_object(obj, box, dst=dst)
    return box


class RankFailedError(RuntimeError):
    """Rank 0 failed in a step that only it runs (writing the run folder); raised on the other
    ranks so that they stop too."""


def on_main(ranks: Ranks, fn: Callable[[], T]) -> T | None:
    """Run ``fn`` on rank 0 only and make every rank agree on its outcome: rank 0 returns its
    result (or raises its exception), the other ranks return ``None`` (or raise the same
    exception when it can be pickled, else `RankFailedError`). One process: ``fn()``."""
    if not ranks.distributed:
        return fn()
    error: BaseException | None = None
    result: T | None = None
    if ranks.main:
        try:
            result = fn()
        except Exception as exc:  # shared with the other ranks, then raised here
            error = exc
    shared = broadcast_object(_portable(error))
    if ranks.main:
        if error is not None:
            raise error
        return result
    if shared is not None:
        raise shared
    return None


def _portable(error: BaseException | None) -> BaseException | None:
    """``error`` if it survives pickling, else a `RankFailedError` naming it."""
    if error is None:
        return None
    import pickle

    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:
        return RankFailedError(f"rank 0 failed: {type(error).__name__}: {error}")
    return copy if isinstance(copy, BaseException) else None
