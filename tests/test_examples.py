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
NEEDS = {
    "multimodal_sensors.py": ("torch",),
    "multitask_digits.py": ("torch",),
    "many_tasks.py": ("torch",),
    "lightning_multitask.py": ("torch", "lightning"),
}


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


def test_many_tasks_example() -> None:
    """40 binary tasks, tiny settings: every rule returns 40 weights on its documented scale
    each step, learns above the majority-class rate on average, and its certificate holds."""
    pytest.importorskip("torch")
    module = runpy.run_path(str(EXAMPLES / "many_tasks.py"))
    tiny = ["--epochs", "2", "--n-train", "500", "--n-test", "300", "--hidden", "32"]
    out = module["main"]([*tiny, "--batch-size", "50", "--lr", "0.02"])
    assert out["tasks"] == 40 and set(out["rules"]) == {"linear", "mgda", "upgrad"}
    assert 0.5 <= out["chance"] < 1.0
    for name, r in out["rules"].items():
        assert r["accuracy"].shape == (40,) and np.all(np.isfinite(r["accuracy"]))
        assert np.all((r["accuracy"] >= 0.0) & (r["accuracy"] <= 1.0))
        assert r["steps"] == 2 * 10 and r["last_weights"].shape == (40,), name
        assert np.isfinite(r["rule_ms"]) and r["rule_ms"] >= 0.0
        assert r["max_residual"] <= 1e-9, name
        assert f"| {name} |" in out["table"]
    w = out["rules"]
    np.testing.assert_allclose(w["linear"]["last_weights"], np.full(40, 1 / 40))
    mgda = w["mgda"]["last_weights"]
    assert np.all(mgda >= 0.0) and abs(mgda.sum() - 1.0) <= 1e-12
    assert np.all(w["upgrad"]["last_weights"] >= (1.0 - 1e-12) / 40)
    # the shared trunk learns: on average over the tasks, above the majority-class rate
    assert max(r["mean"] for r in w.values()) >= out["chance"] + 0.03
