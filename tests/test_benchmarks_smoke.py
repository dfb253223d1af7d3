"""Smoke tests: the step benchmarks, the data-parallel benchmark, the Gramian-rule benchmark
(with its plot) and the GPU script run end to end on tiny sizes (CPU).

They measure nothing worth keeping; they make sure that a session lent a GPU for a few minutes
does not lose them to a script that no longer runs. The CPU memory columns are checked too:
the scripts restart themselves with glibc's malloc settings and read the resident set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = ["--width", "64", "--depth", "2", "--in-dim", "32", "--batch", "16"]
ROUNDS = ["--repeats", "2", "--warmup", "1", "--threads", "1"]


def _run(args: list[str], tmp_path: Path) -> str:
    out = tmp_path / "report.md"
    done = subprocess.run(
        [sys.executable, *args, "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_text()


def test_torch_step_benchmark_runs(tmp_path: Path) -> None:
    report = _run(
        [
            str(BENCH / "bench_torch_step.py"),
            *TINY,
            *ROUNDS,
            "--rules",
            "mgda,mimo",
            "--torchjd",
            "",
            "--gramian-d",
            "1e4",
        ],
        tmp_path,
    )
    assert "| plain sum(losses).backward() |" in report
    assert "| moo mgda | batched |" in report and "failed" not in report
    assert "Design targets" in report and "## Gramian" in report
    if sys.platform.startswith("linux") and os.access("/proc/self/clear_refs", os.W_OK):
        assert "memory of gradient rules ≤ 1.5× plain peak (CPU" in report


def test_multimodal_step_benchmark_runs(tmp_path: Path) -> None:
    report = _run(
        [
            str(BENCH / "bench_multimodal_step.py"),
            *TINY,
            *ROUNDS,
            "--methods",
            "mimo,mgda,mgda@batched,mgda@representation",
        ],
        tmp_path,
    )
    for name in ("joint", "mimo", "mgda", "mgda@batched", "mgda@representation"):
        assert f"| {name} |" in report
    assert "failed" not in report and "## Machine" in report


@pytest.mark.skipif(sys.platform == "win32", reason="file:// store and spawn: Linux/macOS")
def test_multimodal_ddp_benchmark_runs(tmp_path: Path) -> None:
    args = [str(BENCH / "bench_multimodal_ddp.py"), "--samples", "32", "--batch", "16"]
    report = _run([*args, "--epochs", "2", "--methods", "joint"], tmp_path)
    assert "| joint | synchronized |" in report and "| joint | per rank |" in report
    assert "one all-reduce of 33 floats" in report


def test_gramian_rules_benchmark_runs_and_plots(tmp_path: Path) -> None:
    """Tiny settings, the correlated family of issue 15 with ``--dim``, and ``--plot``."""
    pytest.importorskip("matplotlib")
    plot = tmp_path / "time-vs-k.png"
    report = _run(
        [
            str(BENCH / "bench_gramian_rules.py"),
            *("--ks", "2,3", "--repeats", "2", "--warmup", "1", "--gramians", "2"),
            *("--budget", "0.05", "--rules", "MGDA,UPGrad", "--families", "correlated"),
            *("--dim", "20", "--plot", str(plot)),
        ],
        tmp_path,
    )
    assert "### MGDA" in report and "### UPGrad" in report and "### CAGrad" not in report
    assert "families cycled: correlated), J of shape K×20" in report
    for rule in ("MGDA", "UPGrad"):
        for k in (2, 3):
            assert f"| {rule} | {k} | correlated |" in report
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_script_dry_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "QUICK": "1"}
    done = subprocess.run(
        ["bash", str(BENCH / "gpu_all.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = (tmp_path / "summary.md").read_text()
    assert "All benchmarks ran." in summary


def _hopeless_sensor_module() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_hopeless_sensor
    finally:
        sys.path.remove(str(BENCH))
    return bench_hopeless_sensor


def test_hopeless_sensor_variants_parse() -> None:
    parse_variants = _hopeless_sensor_module().parse_variants
    assert parse_variants(["z2=headroom:threshold=2,ramp=0.5"]) == {
        "z2": ("headroom", {"threshold": 2, "ramp": 0.5})
    }
    for bad in ("headroom:threshold=2", "z2=headroom", "z2=:threshold=2"):
        with pytest.raises(SystemExit, match="--variant expects LABEL=METHOD:KEY=VALUE"):
            parse_variants([bad])


def test_hopeless_sensor_paired_table_counts_seed_by_seed() -> None:
    """headroom − method per seed: mean ± std in points and the up / equal / down counts."""
    paired_table = _hopeless_sensor_module().paired_table
    key = "worst informative probe"
    per_seed = {
        ("none", "headroom"): {"fusion": [0.90, 0.91, 0.92], key: [0.70, 0.70, 0.71]},
        ("none", "uniform"): {"fusion": [0.89, 0.90, 0.91], key: [0.71, 0.70, 0.70]},
    }
    table = paired_table(per_seed, ["none"])
    assert "| family | metric | vs uniform |" in table
    assert "| none | fusion | +1.00 ± 0.00 (3 up, 0 equal, 0 down) |" in table
    assert "| none | worst informative probe | +0.00 ± 1.00 (1 up, 1 equal, 1 down) |" in table
