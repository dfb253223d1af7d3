"""Peak memory of one step on the CPU, from the kernel's resident-set high-water mark (Linux).

torch's CPU allocator keeps no peak statistics and ``tracemalloc`` does not see its
allocations, so the benchmarks read the process's resident set instead: reset its high-water
mark (``/proc/self/clear_refs``, value 5), note the resident set, run the step, and read the
high-water mark (``VmHWM`` in ``/proc/self/status``). The difference is the step's transient
memory: activations, gradients, per-objective gradient matrices, temporaries.

For freed tensors to leave the resident set at once, glibc's malloc must hand large blocks
back to the kernel: `reexec_with_malloc_env` restarts the script once with
``MALLOC_MMAP_THRESHOLD_=65536`` (every block of 64 KiB or more is its own mapping, unmapped
when freed; setting it also stops glibc from raising the threshold as it goes) and
``MALLOC_TRIM_THRESHOLD_=0``. Blocks under 64 KiB are not tracked exactly: the figure is the
step's transient memory to within that granularity (and BLAS or OpenMP buffers that a step
allocates the first time are excluded by the warm-up rounds that precede the measurement).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence

ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def available() -> bool:
    """Whether the high-water mark can be read and reset here (Linux, writable clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmHWM") is not None
    except OSError:
        return False


def reexec_with_malloc_env(argv: Sequence[str] | None = None) -> None:
    """Restart this script with `ENV` unless it is already set (returns only if it is, or
    where the measurement is unavailable)."""
    if all(os.environ.get(k) == v for k, v in ENV.items()) or not available():
        return
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, sys.argv[0], *args], {**os.environ, **ENV})


def malloc_env_set() -> bool:
    return all(os.environ.get(k) == v for k, v in ENV.items())


def transient_mib(step: Callable[[], object]) -> float:
    """MiB by which the resident set rose above its level at the start of ``step()``."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status("VmRSS")
    step()
    peak = _status("VmHWM")
    assert before is not None and peak is not None
    return max(peak - before, 0) / 1024.0


def _status(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None
