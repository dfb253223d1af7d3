"""Smoke test of examples/multitask_digits.py: a few rules train every task above chance."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multitask_digits.py"

# Above these margins a task has been learned, not guessed: the chance level is the test set's
# majority class (about 0.50 for parity and digit >= 5, 0.10 for the digit itself). Two epochs
# of the default network reach about 0.7-0.9 on every task with every rule; the margin leaves
# room for other BLAS builds and torch versions.
MARGIN = {"parity": 0.10, "high": 0.10, "digit": 0.30}


def test_multitask_digits_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    main = runpy.run_path(str(EXAMPLE))["main"]
    rules = ["mgda", "nash-mtl", "mimo"]
    out = main(["--rules", ",".join(rules), "--epochs", "2", "--seed", "0"])

    assert out["tasks"] == ["parity", "high", "digit"]
    assert set(out["rules"]) == set(rules)
    for rule, r in out["rules"].items():
        for task, acc in r["accuracy"].items():
            chance = out["chance"][task]
            assert acc > chance + MARGIN[task], f"{rule}/{task}: {acc:.3f} vs chance {chance:.3f}"
        assert r["worst"] == min(r["accuracy"].values())
        assert r["step_ms"] > 0.0 and r["rule_ms"] >= 0.0
        assert np.all(np.isfinite(r["last_weights"]))
        assert r["last_weights"].shape == (3,)

    printed = capsys.readouterr().out
    assert out["table"] in printed
    header = next(line for line in printed.splitlines() if line.startswith("| rule"))
    assert "parity acc" in header and "worst" in header and "in rule ms" in header
    for rule in rules:
        assert f"| {rule} |" in printed


def test_multitask_digits_is_deterministic() -> None:
    main = runpy.run_path(str(EXAMPLE))["main"]
    argv = ["--rules", "mgda", "--epochs", "1", "--seed", "3", "--hidden", "16"]
    a, b = main(argv), main(argv)
    assert a["rules"]["mgda"]["accuracy"] == b["rules"]["mgda"]["accuracy"]
    np.testing.assert_array_equal(
        a["rules"]["mgda"]["last_weights"], b["rules"]["mgda"]["last_weights"]
    )
