"""Run folders under bad conditions: two writers, extended or shortened runs, damaged or
hostile checkpoints, bad devices, a comparison naming a bad method (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from moo_multimodal.cli import main
from moo_multimodal.compare import compare
from moo_multimodal.training import (
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    CheckpointWarning,
    RunLock,
    RunLockedError,
    TrainConfig,
    _decode_state,
    train,
)
from tests.multimodal._runs import assert_same_model, crash_then_resume

SMALL = {"n_train": 128, "n_test": 64}
CLI_SMALL = ["--data", "n_train=128", "--data", "n_test=64", "--quiet", "--no-probes"]


def _config(**kw) -> TrainConfig:
    return TrainConfig(
        **{"method": "joint", "epochs": 1, "dataset_options": SMALL, "probes": False, **kw}
    )


# -- 1. one writer per run folder -------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_folder(tmp_path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=str(tmp_path)):
            train(_config(), output_dir=tmp_path)
    assert not (tmp_path / CHECKPOINT).exists()
    # released on exit: the folder is usable again
    train(_config(), output_dir=tmp_path)
    assert (tmp_path / CHECKPOINT).exists()


def test_two_threads_writing_one_folder(tmp_path) -> None:
    """flock locks are per open file: two threads of one process exclude each other too."""
    entered = threading.Event()
    leave = threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with RunLock(tmp_path):
                entered.set()
                leave.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            entered.set()

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert entered.wait(10)
        with pytest.raises(RunLockedError, match="another writer"):
            RunLock(tmp_path).acquire()
    finally:
        leave.set()
        t.join(10)
    assert not errors
    with RunLock(tmp_path):
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_lock_of_another_process_refuses_and_its_stale_lock_is_taken_over(tmp_path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from moo_multimodal.training import RunLock\n"
            "lock = RunLock(sys.argv[1]); lock.acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"{tmp_path}.*pid {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    # the dead process's lock file remains, its lock does not: taken over
    assert (tmp_path / RunLock.NAME).exists()
    with RunLock(tmp_path):
        assert (tmp_path / RunLock.NAME).read_text().split()[0] == str(os.getpid())


def test_the_cli_refuses_a_second_writer(tmp_path, capsys) -> None:
    with RunLock(tmp_path):
        code = main(
            ["train", "--method", "joint", "--epochs", "1", "--out", str(tmp_path), *CLI_SMALL]
        )
    assert code == 1
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "another writer" in err


# -- 2. extending and shortening a run ---------------------------------------------------------


def test_extending_a_cosine_run_follows_the_longer_runs_schedule(tmp_path) -> None:
    cfg = _config(scheduler="cosine", lr=0.01, epochs=2)
    train(cfg, output_dir=tmp_path / "ext")
    extended = train(_config(scheduler="cosine", lr=0.01, epochs=4), output_dir=tmp_path / "ext")
    fresh = train(_config(scheduler="cosine", lr=0.01, epochs=4), output_dir=tmp_path / "fresh")
    assert [r["epoch"] for r in extended.history] == [1, 2, 3, 4]
    assert [r["lr"] for r in extended.history[:2]] == [0.005, 0.0]  # the 2-epoch schedule
    assert [r["lr"] for r in extended.history[2:]] == [r["lr"] for r in fresh.history[2:]]
    # the checkpoint now holds the 4-epoch schedule: a kill and resume continues it
    state = torch.load(tmp_path / "ext" / CHECKPOINT, weights_only=True)
    assert state["scheduler"]["T_max"] == 4


def test_an_interrupted_extension_resumes_bit_identically(tmp_path) -> None:
    base = _config(scheduler="cosine", lr=0.01, epochs=1, method="mgda")
    train(base, output_dir=tmp_path / "a")
    train(base, output_dir=tmp_path / "b")
    longer = _config(scheduler="cosine", lr=0.01, epochs=3, method="mgda")
    full = train(longer, output_dir=tmp_path / "a")
    resumed = crash_then_resume(longer, tmp_path / "b")
    assert_same_model(full.model, resumed.model)
    assert [r["lr"] for r in full.history] == [r["lr"] for r in resumed.history]


def test_fewer_epochs_than_done_is_refused(tmp_path) -> None:
    train(_config(epochs=2), output_dir=tmp_path)
    with pytest.raises(ValueError, match=r"2 finished epochs.*epochs=1"):
        train(_config(epochs=1), output_dir=tmp_path)
    # the same count returns the finished run
    assert len(train(_config(epochs=2), output_dir=tmp_path).history) == 2


def test_the_cli_does_not_report_another_epoch_count(tmp_path, capsys) -> None:
    args = ["train", "--method", "joint", "--out", str(tmp_path), *CLI_SMALL]
    assert main([*args, "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main([*args, "--epochs", "1"]) == 2
    captured = capsys.readouterr()
    assert "1 epochs" not in captured.out and "epochs=1" in captured.err


# -- 3. checkpoints ----------------------------------------------------------------------------


def test_the_previous_checkpoint_is_kept_and_a_truncated_last_one_falls_back(tmp_path) -> None:
    full = train(_config(epochs=2, method="mgda"), output_dir=tmp_path / "full")
    run = tmp_path / "run"
    train(_config(epochs=2, method="mgda"), output_dir=run)
    assert torch.load(run / PREVIOUS_CHECKPOINT, weights_only=True)["epoch"] == 1
    data = (run / CHECKPOINT).read_bytes()
    (run / CHECKPOINT).write_bytes(data[: len(data) // 2])
    with pytest.warns(CheckpointWarning, match=rf"{run / CHECKPOINT}.*damaged"):
        resumed = train(_config(epochs=2, method="mgda"), output_dir=run)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert (run / f"{CHECKPOINT}.damaged").read_bytes() == data[: len(data) // 2]
    assert_same_model(full.model, resumed.model)
    assert torch.load(run / CHECKPOINT, weights_only=True)["epoch"] == 2


def test_no_usable_checkpoint_stops_with_a_clear_message(tmp_path) -> None:
    train(_config(epochs=2), output_dir=tmp_path)
    (tmp_path / CHECKPOINT).write_bytes(b"PK\x03\x04 torn")
    (tmp_path / PREVIOUS_CHECKPOINT).write_bytes(b"")
    with pytest.raises(ValueError, match=r"no usable checkpoint.*resume=False"):
        train(_config(epochs=2), output_dir=tmp_path)


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_checkpoint_holding_a_pickled_object_is_refused_not_run(tmp_path) -> None:
    marker = tmp_path / "pwned"
    train(_config(), output_dir=tmp_path)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    state["history"] = [_Payload(str(marker))]
    torch.save(state, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match=r"mkdir\): refused, nothing in it was loaded or run"):
        train(_config(epochs=2), output_dir=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("method", ["moco", "nash-mtl"])
def test_checkpoints_of_methods_with_array_state_load_weights_only(
    tmp_path, method, legacy
) -> None:
    """The rules' state is plain Python (lists); checkpoints written before, with pickled
    NumPy arrays, still resume (NumPy arrays are allow-listed)."""
    full = train(_config(epochs=2, method=method), output_dir=tmp_path / "full")
    train(_config(epochs=1, method=method), output_dir=tmp_path / "run")
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    if legacy:
        rule = _decode_state(state["method"])["rule"]
        rule = {k: np.array(v) if isinstance(v, list) else v for k, v in rule.items()}
        state["method"] = {**state["method"], "rule": rule}  # as older versions saved it
        assert any(isinstance(v, np.ndarray) for v in state["method"]["rule"].values())
        torch.save(state, tmp_path / "run" / CHECKPOINT)
    resumed = train(_config(epochs=2, method=method), output_dir=tmp_path / "run")
    assert_same_model(full.model, resumed.model)


def test_temporary_files_of_an_interrupted_write_are_cleaned(tmp_path) -> None:
    train(_config(), output_dir=tmp_path)
    leftovers = [tmp_path / f".{CHECKPOINT}.x1y2.tmp", tmp_path / ".metrics.jsonl.abc.tmp"]
    for p in leftovers:
        p.write_bytes(b"half")
    mine = tmp_path / "notes.tmp"
    mine.write_text("the user's")
    train(_config(epochs=2), output_dir=tmp_path)
    assert not any(p.exists() for p in leftovers)
    assert mine.exists()


# -- 4. devices --------------------------------------------------------------------------------


def test_an_unknown_device_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"device.*'nope'"):
        TrainConfig(device="nope")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a build or machine without CUDA")
def test_cuda_without_cuda_is_refused_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"device.*'cuda'.*CUDA"):
        TrainConfig(device="cuda")

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data were loaded before the device was checked")

    monkeypatch.setattr("moo_multimodal.training.load_dataset", no_loading)
    code = main(["train", "--device", "cuda", "--out", str(tmp_path / "run"), *CLI_SMALL])
    assert code == 2
    assert "device" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_cli_refuses_device_nope(capsys) -> None:
    assert main(["train", "--device", "nope", *CLI_SMALL]) == 2
    assert "'nope'" in capsys.readouterr().err


# -- 5. compare checks every method before training --------------------------------------------


def test_compare_checks_every_method_before_training(tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    args = ["compare", "--epochs", "1", "--seeds", "2", "--out", str(out), "--no-plots", *CLI_SMALL]
    assert main([*args, "--methods", "joint,nosuch"]) == 2
    assert "unknown method 'nosuch'" in capsys.readouterr().err
    assert not (out / "joint").exists()
    assert main([*args, "--methods", "joint,mimo", "--param", "mimo:nosuch=1"]) == 2
    err = capsys.readouterr().err
    assert "mimo" in err and "nosuch" in err
    assert not (out / "joint").exists()
    assert main([*args, "--methods", "joint,mimo", "--param", "mimo:gamma=-1"]) == 2
    assert "gamma" in capsys.readouterr().err
    assert not (out / "joint").exists()


def test_config_json_names_the_run_only_once_written(tmp_path) -> None:
    """A refused second writer leaves the first run's files alone."""
    train(_config(method="joint"), output_dir=tmp_path)
    with RunLock(tmp_path), pytest.raises(RunLockedError):
        train(_config(method="mimo"), output_dir=tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["method"] == "joint"


def test_a_second_comparison_into_one_folder_is_refused(tmp_path) -> None:
    with RunLock(tmp_path), pytest.raises(RunLockedError, match=str(tmp_path)):
        compare(["joint"], [0], _config(), output_dir=tmp_path, plots=False)
    assert not (tmp_path / "joint").exists()
