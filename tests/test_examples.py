"""Smoke tests: every script in examples/ runs."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# the optional packages an example imports at its top (its --help needs them)
NEEDS = {"multimodal_sensors.py": ("torch",), "multitask_digits.py": ("torch",)}


def test_custom_problem_example(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # --plot
    module = runpy.run_path(str(EXAMPLES / "custom_problem.py"))
    front = module["main"](["--starts", "6", "--plot", str(tmp_path / "front.png")])
    assert front.n_converged == 6
    assert all(r.stationarity <= 1e-6 for r in front.results)
    assert (tmp_path / "front.png").read_bytes()[:4] == b"\x89PNG"
    # the front trades f1 against f2: sorted by f1, f2 decreases
    assert np.all(np.diff(front.F[:, 1]) <= 0)


@pytest.mark.parametrize("script", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_run_as_scripts(script: Path) -> None:
    for module in NEEDS.get(script.name, ()):
        pytest.importorskip(module)
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"{script.name}: {out.stderr}"


def test_multimodal_sensors_example(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    module = runpy.run_path(str(EXAMPLES / "multimodal_sensors.py"))
    results = module["main"](["--epochs", "1", "--n-train", "150", "--out", str(tmp_path)])
    assert set(results) == {"joint", "mimo"}
    for final in results.values():
        assert 0.0 <= final["fusion_acc"] <= 1.0
        assert np.isfinite(final["probe/camera"])
    assert (tmp_path / "mimo" / "checkpoint.pt").exists()
