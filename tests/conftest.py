"""Shared test configuration: deterministic hypothesis profiles, one torch thread."""

import importlib.util
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Derandomized and without deadlines: the suite runs on shared, noisy 2-core machines, and a
# flaky test blocks every landing. "explore" draws fresh random examples for local bug hunts.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """The tests' models are tiny: torch's intra-op threads only add synchronization (tens of
    ms per op on a busy 2-core machine), so the suite runs torch on one thread."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
