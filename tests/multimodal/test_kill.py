"""A `moo-mm train` process killed with SIGKILL (no cleanup of any kind) resumes to the same
model as an uninterrupted run (issue 13: crashes were simulated by an exception before)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from moo_multimodal.training import CHECKPOINT

# the CLI in a fresh interpreter, one torch thread: the same arithmetic in every process
RUN = "import sys; from moo_multimodal.cli import main; sys.exit(main(sys.argv[1:]))"
EPOCHS = 6
ARGS = [
    "train",
    "--method",
    "mimo",
    "--epochs",
    str(EPOCHS),
    "--threads",
    "1",
    "--data",
    "n_train=2048",
    "--data",
    "n_test=64",
    "--no-probes",
    "--quiet",
]


def _command(out: Path) -> list[str]:
    return [sys.executable, "-c", RUN, *ARGS, "--out", str(out)]


def _model_state(out: Path) -> dict[str, torch.Tensor]:
    state = torch.load(out / CHECKPOINT, weights_only=True)
    model: dict[str, torch.Tensor] = state["model"]
    return model


def _epochs_done(out: Path) -> int:
    metrics = out / "metrics.jsonl"
    return len(metrics.read_text().splitlines()) if metrics.exists() else 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_model(tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120.0
        while not (killed / CHECKPOINT).exists():  # the first epoch's checkpoint
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert _epochs_done(killed) < EPOCHS, "the run ended before the kill: nothing was tested"

    resumed = subprocess.run(_command(killed), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resum" in resumed.stderr.lower()  # it said it resumed
    reference = tmp_path / "reference"
    straight = subprocess.run(_command(reference), capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr

    assert _epochs_done(killed) == _epochs_done(reference) == EPOCHS
    a, b = _model_state(killed), _model_state(reference)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
