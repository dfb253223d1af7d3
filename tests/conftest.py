"""Shared test configuration: deterministic hypothesis profiles."""

import os

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
