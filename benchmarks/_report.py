"""What the step benchmarks share: the run's machine description, quantiles, option lists.

`bench_torch_step.py` and `bench_multimodal_step.py` import this module from their own folder
(``benchmarks/``); it imports torch, so it is not for `bench_gramian_rules.py`, whose torch is
optional.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import _cpu_memory
import torch

ROOT = Path(__file__).resolve().parents[1]
MIB = 2.0**20


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op off CUDA)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_memory(
    step: Callable[[], object], device: torch.device, state_mib: float
) -> tuple[float, float] | None:
    """``(peak, transient)`` MiB of one call of ``step``, or ``None`` where not measurable.

    CUDA: the allocator's peak, and the peak minus what was allocated before the call. CPU
    (Linux, with `_cpu_memory`'s malloc settings): the rise of the resident set during the
    call, and that plus ``state_mib`` (what is allocated before a step) as the peak.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device) / MIB
        step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / MIB
        return peak, peak - before
    if _cpu_memory.malloc_env_set() and _cpu_memory.available():
        transient = _cpu_memory.transient_mib(step)
        return state_mib + transient, transient
    return None


def quantile(xs: Sequence[float], q: float) -> float:
    """The ``q``-quantile of ``xs`` by linear interpolation between order statistics."""
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def iqr_ms(seconds: Sequence[float]) -> str:
    """The interquartile range of times in seconds, as ``"a–b"`` milliseconds."""
    return f"{1e3 * quantile(seconds, 0.25):.2f}–{1e3 * quantile(seconds, 0.75):.2f}"


def csv(text: str) -> list[str]:
    """The non-empty items of a comma-separated option."""
    return [x.strip() for x in text.split(",") if x.strip()]


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def commit() -> str:
    """The checkout's short commit, flagged when the library sources have local changes."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "moo", "adapters/multimodal")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes under moo/ or adapters/multimodal/" if dirty else "")


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
    )
    return out.stdout.strip()


def machine(device: torch.device) -> str:
    """Markdown lines: platform, CPUs and load, torch (threads, torchjd, moo, commit), GPU."""
    cpus = f"os.cpu_count()={os.cpu_count()}"
    if hasattr(os, "sched_getaffinity"):
        cpus += f", usable={len(os.sched_getaffinity(0))}"
    lines = [
        f"- platform: {platform.platform()} ({platform.machine()}), Python "
        f"{platform.python_version()}",
        f"- CPUs: {cpus}",
    ]
    if hasattr(os, "getloadavg"):
        la = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        lines.append(f"- load average (1, 5, 15 min) at the end: {la}")
    lines.append(
        f"- torch {torch.__version__}: get_num_threads()={torch.get_num_threads()}; "
        f"torchjd {version('torchjd')}; moo-toolkit {version('moo-toolkit')} "
        f"(commit {commit()})"
    )
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        cudnn = torch.backends.cudnn.version()  # type: ignore[no-untyped-call]
        lines.append(
            f"- GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability "
            f"{p.major}.{p.minor}; CUDA {torch.version.cuda}; cuDNN {cudnn}; TF32 matmul "
            f"{torch.backends.cuda.matmul.allow_tf32}"
        )
    return "\n".join(lines)
