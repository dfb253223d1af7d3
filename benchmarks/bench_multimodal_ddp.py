"""Benchmark: data-parallel training of the multimodal adapter, 2 processes against 1.

What is measured: the training time per sample of `moo_multimodal.training.fit` — forward,
``method.backward`` (with the reductions over the ranks each method makes) and the optimizer
step, the ``step_ms`` of each epoch's record divided by the global batch — in one process and
in ``--world`` processes (``torch.multiprocessing`` spawn, gloo on CPU, nccl on CUDA), on the
same model, data and global batch. Model: two modalities of 1×32×32 inputs, the adapter's CNN
encoders (channels 16, 32), concat fusion, 10 classes; data: random tensors. The first epoch
is a warm-up; the others are averaged. On CPU every process runs ``--threads`` threads
(default 1), so 2 processes use 2 cores where the single process uses one: the ratio
``time per sample (N processes) / time per sample (1 process)`` is the scaling (ideal 1/N; the
issue's target for 2 CPU processes is at most 0.6), and the efficiency is ``1 / (N · ratio)``.
On a machine with N GPUs, ``--device cuda`` measures the same on GPUs.

Each method runs twice in parallel: with batch norm synchronized over the ranks (the default,
``sync_batch_norm=True``: the one-process result; one all-reduce per batch-norm layer in the
forward pass and one in the backward pass, 8 per step here) and with each rank's statistics
(``sync_batch_norm=False``). The report also gives the latency of one small all-reduce (33
floats, the size of those statistics) between the processes, which those collectives pay.

Benchmarks report ratios measured in one run on one machine; they are never assertions.

Run: ``python benchmarks/bench_multimodal_ddp.py [--device cpu|cuda] [--world 2]
[--methods joint,mimo,mgda] [--samples 1024] [--batch 64] [--epochs 3] [--threads 1]
[--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from moo_multimodal import _distributed
from moo_multimodal.data import TensorDataset
from moo_multimodal.methods import make_method
from moo_multimodal.models import build_model
from moo_multimodal.training import TrainConfig, fit


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(n, 1, 32, 32, generator=g) for m in ("a", "b")}
    return TensorDataset(inputs, torch.randint(10, (n,), generator=g), 10)


def _train(args: argparse.Namespace, method: str, sync: bool = True) -> list[dict[str, float]]:
    """One run of `fit` in this process (one rank when a group is initialized)."""
    config = TrainConfig(
        method=method,
        sync_batch_norm=sync,
        epochs=args.epochs,
        batch_size=args.batch,
        device=args.device,
        probes=False,
        valid_fraction=0.0,
        eval_batch_size=256,
    )
    torch.manual_seed(0)
    model = build_model({"a": (1, 32, 32), "b": (1, 32, 32)}, 10, encoder="cnn")
    return fit(
        model,
        make_method(method, run_seed=0),
        _data(args.samples, 1),
        _data(64, 2),
        config,
    ).history


def _per_sample_us(history: list[dict[str, float]], batch: int) -> float:
    later = history[1:] or history
    return 1e3 * sum(r["step_ms"] for r in later) / len(later) / batch


def _all_reduce_latency_us(device: str, calls: int = 200) -> float:
    """Median time of one all-reduce of 33 floats (after 20 untimed calls)."""
    t = torch.ones(33, device=device)
    times = []
    for i in range(20 + calls):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        dist.all_reduce(t)
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 20:
            times.append(time.perf_counter() - start)
    return 1e6 * sorted(times)[len(times) // 2]


def _worker(rank: int, args: argparse.Namespace, init: str, out: str) -> None:
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    _distributed.import_compiler()  # else a finished rank may abort at exit (see there)
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=init, rank=rank, world_size=args.world
    )
    try:
        results: dict[str, float] = {"latency_us": _all_reduce_latency_us(args.device)}
        for method in args.methods:
            for sync in (True, False):
                history = _train(args, method, sync)
                results[f"{method}/{sync}"] = _per_sample_us(history, args.batch)
        if rank == 0:
            Path(out).write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--world", type=int, default=2, help="processes of the parallel run")
    parser.add_argument("--methods", default="joint,mimo,mgda")
    parser.add_argument("--samples", type=int, default=1024, help="training samples")
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (the first is a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--out", default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    if args.world < 2:
        parser.error(f"--world must be >= 2, got {args.world}")
    torch.set_num_threads(args.threads)
    single = {m: _per_sample_us(_train(args, m), args.batch) for m in args.methods}
    with tempfile.TemporaryDirectory() as tmp:
        init = (Path(tmp) / "store").resolve().as_uri()
        out = str(Path(tmp) / "ranks.json")
        start = time.perf_counter()
        torch.multiprocessing.spawn(_worker, args=(args, init, out), nprocs=args.world, join=True)
        parallel: dict[str, Any] = json.loads(Path(out).read_text())
        elapsed = time.perf_counter() - start
    lines = [
        f"# Multimodal data-parallel benchmark ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"torch {torch.__version__}, device {args.device}, {args.threads} thread(s) per process, "
        f"{os.cpu_count()} CPU cores visible.",
        "",
        f"CNN encoders (channels 16, 32) on two 1×32×32 modalities, concat fusion, 10 classes; "
        f"{args.samples} random samples, global batch {args.batch}, {args.epochs} epochs (the "
        f"first a warm-up); time per sample = mean `step_ms` / batch (forward, method, "
        f"reductions, optimizer step). {args.world} processes:"
        f"{' nccl' if args.device == 'cuda' else ' gloo'}, spawned ({elapsed:.0f} s); one "
        f"all-reduce of 33 floats between them: {parallel['latency_us']:.0f} µs (median).",
        "",
        f"| method | batch norm | 1 process µs/sample | {args.world} processes µs/sample | "
        "ratio | efficiency | target ratio ≤ 0.6 |",
        "|---|---|--:|--:|--:|--:|:-:|",
    ]
    for m in args.methods:
        for sync in (True, False):
            par = parallel[f"{m}/{sync}"]
            ratio = par / single[m]
            efficiency = 1.0 / (args.world * ratio)
            verdict = "met" if ratio <= 0.6 else "missed"
            mode = "synchronized" if sync else "per rank"
            lines.append(
                f"| {m} | {mode} | {single[m]:.1f} | {par:.1f} | {ratio:.2f}× | "
                f"{100 * efficiency:.0f}% | {verdict} |"
            )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    return report


if __name__ == "__main__":
    main()
