"""Data-parallel training of the adapter: 2 CPU processes on gloo give the one-process run.

One spawned session of 2 processes trains every case below (`_worker`), each rank with its
shard of every global batch, and one run crashed after its first epoch and resumed; the
parent trains the same cases in one process and compares the per-epoch losses (1e-5
relative; bf16 at its own precision) and the final metrics, also for a CNN encoder whose batch
norm is synchronized over the ranks (`GlobalBatchNorm`, itself checked against BatchNorm on a
one-process group). Each rank checks at its end that no gloo thread outlives the group (see
`_distributed.import_compiler`). A torchrun run of the command line, one of whose processes
is killed in its second epoch, is resumed by the same command (slow: two torchrun starts).
Gradient accumulation, mixed precision (on the CPU, and on CUDA where present; fp16's loss
scaler survives a resume) and the option checks run in one process. CUDA cases skip without
CUDA.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist

from moo_multimodal import _distributed
from moo_multimodal.cli import main
from moo_multimodal.data import TensorDataset
from moo_multimodal.methods import make_method
from moo_multimodal.models import build_model
from moo_multimodal.training import TrainConfig, fit, train

pytestmark = [
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()),
        reason="torch.distributed with the gloo backend is not available in this torch build",
    ),
    pytest.mark.skipif(sys.platform == "win32", reason="file:// store and spawn: Linux/macOS"),
]

WORLD = 2
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
ROOT = Path(__file__).resolve().parents[2]
# n_train 60 minus the validation hold-out: the last batch of 10 is uneven between the ranks
BASE = TrainConfig(
    dataset="synthetic",
    dataset_options={"n_train": 60, "n_test": 40},
    epochs=2,
    batch_size=10,
    probes=False,
    eval_batch_size=64,
)
CASES: dict[str, TrainConfig] = {
    "uniform": replace(BASE, method="uniform", probes=True),
    "joint-dropout": replace(BASE, method="joint", modality_dropout=0.3),
    "mimo": replace(BASE, method="mimo"),
    "mgda": replace(BASE, method="mgda"),
    "ogm-ge": replace(BASE, method="ogm-ge"),
    "mmpareto": replace(BASE, method="mmpareto"),
    "headroom": replace(BASE, method="headroom"),
    "uniform-accumulate": replace(BASE, method="uniform", batch_size=5, accumulate=2),
    # bf16 autocast: each rank's forward pass rounds its shard as the one process rounds
    # those rows, up to the kernels' blocking (compared at bf16's precision below)
    "mimo-bf16": replace(BASE, method="mimo", precision="bf16"),
}
# crashed after its first epoch (on every rank), then resumed
RESUMED = replace(BASE, method="mgda", epochs=3)
# a CNN encoder: batch norm synchronized over the ranks (`GlobalBatchNorm` on the CPU), and
# per rank (sync_batch_norm=False)
CNN_CASES = {
    "cnn-joint": ("joint", True),
    "cnn-mgda": ("mgda", True),
    "cnn-local": ("joint", False),
}
LOGGED = ("train/fusion_loss", "train/loss/fast", "train/loss/slow")
FINAL = ("fusion_acc", "fusion_f1", "acc/fast", "acc/slow", "val/fusion_acc")


class _Crash(Exception):
    pass


def _crash(record: dict[str, float]) -> None:
    if record["epoch"] == 1:
        raise _Crash


def _cnn_data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    inputs = {"fast": torch.randn(n, 1, 8, 8, generator=g), "slow": torch.randn(n, 12, generator=g)}
    return TensorDataset(inputs, torch.randint(3, (n,), generator=g), 3)


def _cnn_fit(method: str, sync: bool, out: Path | None = None) -> list[dict[str, Any]]:
    """A CNN encoder (batch norm) and an MLP one, 37 samples (the last batch of 7, split
    4 / 3 between the ranks)."""
    config = TrainConfig(
        method=method,
        epochs=2,
        batch_size=10,
        probes=False,
        valid_fraction=0.0,
        sync_batch_norm=sync,
    )
    torch.manual_seed(0)
    model = build_model(
        {"fast": (1, 8, 8), "slow": (12,)}, 3, encoder={"fast": "cnn", "slow": "mlp"}
    )
    data, test = _cnn_data(37, 1), _cnn_data(20, 2)
    run = fit(model, make_method(method, run_seed=0), data, test, config, output_dir=out)
    return run.history


def _worker(rank: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    _distributed.import_compiler()  # else a finished rank may abort at exit (see there)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        for name, config in CASES.items():
            train(config, output_dir=Path(out) / name)
        for name, (method, sync) in CNN_CASES.items():
            _cnn_fit(method, sync, Path(out) / name)
        try:
            train(RESUMED, output_dir=Path(out) / "resumed", callback=_crash)
        except _Crash:
            pass
        result = train(RESUMED, output_dir=Path(out) / "resumed")
        assert result.resumed_from == 1
    finally:
        _distributed.shutdown()
    # the group is gone with its threads (none left to abort the exit: `import_compiler`)
    assert _gloo_threads() in (0, None)


def _gloo_threads() -> int | None:
    """The number of gloo's native threads in this process (Linux; ``None`` elsewhere)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    names = [(task / "comm").read_text() for task in tasks.iterdir()]
    return sum(name.startswith(("pt_gloo", "gloo")) for name in names)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The 2-process runs' folder and the one-process runs' histories."""
    tmp = tmp_path_factory.mktemp("ddp")
    init = (tmp / "store").resolve().as_uri()
    torch.multiprocessing.spawn(_worker, args=(init, str(tmp)), nprocs=WORLD, join=True)
    single = {}
    for name, config in CASES.items():
        if config.accumulate > 1:  # the one-process reference: one batch twice as large
            config = replace(config, batch_size=config.batch_size * config.accumulate, accumulate=1)
        single[name] = train(config).history
    single["resumed"] = train(RESUMED).history
    for name, (method, sync) in CNN_CASES.items():
        single[name] = _cnn_fit(method, sync)
    return tmp, single


def _history(folder: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_equal_one_process(name: str, runs: tuple[Path, dict[str, Any]]) -> None:
    folder, single = runs
    two = _history(folder / name)
    assert len(two) == len(single[name]) == 2
    exact = CASES[name].precision == "fp32"
    # bf16 keeps 8 bits: a product rounded differently moves a loss by about 2⁻⁸ of one term
    loss_rel, weight_rel = (1e-5, 1e-4) if exact else (1e-2, 1e-2)
    for a, b in zip(two, single[name], strict=True):
        for key in LOGGED:
            assert a[key] == pytest.approx(b[key], rel=loss_rel), (key, a["epoch"])
        weights = [k for k in b if k.startswith("weight/")]
        assert weights == [k for k in a if k.startswith("weight/")]
        for key in weights:
            assert a[key] == pytest.approx(b[key], rel=weight_rel, abs=1e-6), key
    if exact:  # in bf16 a test sample near the decision boundary may go either way
        for key in (*FINAL, *(k for k in single[name][-1] if k.startswith("probe/"))):
            assert two[-1][key] == single[name][-1][key], key


@pytest.mark.parametrize("name", [n for n, (_, sync) in CNN_CASES.items() if sync])
def test_two_processes_with_batch_norm_equal_one_process(
    name: str, runs: tuple[Path, dict[str, Any]]
) -> None:
    """Batch norm over the global batch (`GlobalBatchNorm`): the same losses, weights and
    metrics as one process, as without batch norm."""
    folder, single = runs
    two = _history(folder / name)
    assert len(two) == len(single[name]) == 2
    for a, b in zip(two, single[name], strict=True):
        for key in ("train/fusion_loss", "train/loss/fast", "train/loss/slow"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), (key, a["epoch"])
        for key in (k for k in b if k.startswith("weight/")):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    for key in ("fusion_acc", "acc/fast", "acc/slow"):
        assert two[-1][key] == single[name][-1][key], key


def test_batch_norm_per_rank_is_close_to_one_process(runs: tuple[Path, dict[str, Any]]) -> None:
    """sync_batch_norm=False: each rank normalizes its shard, so the run departs from the
    one-process run (it is not synchronized) but stays near it."""
    folder, single = runs
    two = _history(folder / "cnn-local")
    departs = 0.0
    for a, b in zip(two, single["cnn-local"], strict=True):
        for key in LOGGED:
            assert a[key] == pytest.approx(b[key], rel=0.05), key
            departs = max(departs, abs(a[key] - b[key]) / abs(b[key]))
    assert departs > 1e-5


def test_sync_batch_norm_option(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"sync_batch_norm must be True or False, got 'no'"):
        TrainConfig(sync_batch_norm="no")  # type: ignore[arg-type]
    assert TrainConfig().sync_batch_norm is True
    args = ["train", "--data", "n_train=30", "--data", "n_test=20", "--epochs", "1"]
    args += ["--no-probes", "--quiet", "--no-sync-batch-norm", "--out", str(tmp_path)]
    assert main(args) == 0
    assert json.loads((tmp_path / "config.json").read_text())["sync_batch_norm"] is False


def test_resume_under_two_processes(runs: tuple[Path, dict[str, Any]]) -> None:
    folder, single = runs
    two = _history(folder / "resumed")
    assert [r["epoch"] for r in two] == [1, 2, 3]
    for a, b in zip(two, single["resumed"], strict=True):
        for key in LOGGED:
            assert a[key] == pytest.approx(b[key], rel=1e-5), (key, a["epoch"])
    assert two[-1]["fusion_acc"] == single["resumed"][-1]["fusion_acc"]


def test_rank_zero_writes_each_file_once(runs: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = runs
    for name in CASES:
        run = folder / name
        files = sorted(p.name for p in run.iterdir())
        assert files == [
            "checkpoint.prev.pt",
            "checkpoint.pt",
            "config.json",
            "dataset.txt",
            "metrics.csv",
            "metrics.jsonl",
            "results.json",
            "run.lock",
            "selected.pt",
        ]
        assert [r["epoch"] for r in _history(run)] == [1, 2]
        assert len((run / "metrics.csv").read_text().splitlines()) == 3
        assert json.loads((run / "results.json").read_text())["epochs_run"] == 2
        state = torch.load(run / "checkpoint.pt", weights_only=True)
        assert state["epoch"] == 2


# -- torchrun: kill and resume ----------------------------------------------------------------

_CRASH_PLUGIN = """
import os

from moo_multimodal.methods import register_method
from moo_multimodal.methods.standard import Uniform


@register_method
class CrashingUniform(Uniform):
    name = "crashing-uniform"

    def backward(self, model, output, labels, *, epoch):
        # rank 1 dies in its second epoch when told to (as a killed process would)
        if epoch == 1 and os.environ.get("CRASH") == "1" and os.environ.get("RANK") == "1":
            os._exit(3)
        return super().backward(model, output, labels, epoch=epoch)
"""


def _torchrun(args: list[str], *, crash: bool, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CRASH": "1" if crash else "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={WORLD}", "-m", "moo_multimodal", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_killed_then_resumed(tmp_path: Path) -> None:
    plugin = tmp_path / "crash_plugin.py"
    plugin.write_text(textwrap.dedent(_CRASH_PLUGIN))
    out = tmp_path / "run"
    args = ["train", "--method", "crashing-uniform", "--plugin", str(plugin), "--out", str(out)]
    args += ["--data", "n_train=60", "--data", "n_test=40", "--epochs", "3"]
    args += ["--batch-size", "10", "--no-probes", "--threads", "1", "--quiet"]
    crashed = _torchrun(args, crash=True, cwd=tmp_path)
    assert crashed.returncode != 0
    assert [r["epoch"] for r in _history(out)] == [1]
    resumed = _torchrun(args, crash=False, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "from epoch 1 of 3" in resumed.stderr
    assert resumed.stdout.count("crashing-uniform on synthetic, 3 epochs") == 1  # rank 0 only
    two = _history(out)
    assert [r["epoch"] for r in two] == [1, 2, 3]
    config = replace(BASE, method="uniform", epochs=3)
    single = train(config).history
    for a, b in zip(two, single, strict=True):
        for key in LOGGED:
            assert a[key] == pytest.approx(b[key], rel=1e-5), (key, a["epoch"])
    assert two[-1]["fusion_acc"] == single[-1]["fusion_acc"]


# -- one process ------------------------------------------------------------------------------


def test_module_is_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "moo_multimodal", "methods"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "mimo" in done.stdout and "ogm-ge" in done.stdout


@pytest.mark.parametrize("method", ["joint", "unimodal"])
def test_accumulation_equals_the_larger_batch(method: str) -> None:
    small = replace(BASE, method=method, batch_size=4, accumulate=3, modality_dropout=0.2)
    large = replace(small, batch_size=12, accumulate=1)
    a, b = train(small).history, train(large).history
    for x, y in zip(a, b, strict=True):
        for key in LOGGED:
            assert x[key] == pytest.approx(y[key], rel=1e-5), key
        assert x["fusion_acc"] == y["fusion_acc"]


def test_accumulation_refused_where_it_is_not_the_larger_batch() -> None:
    with pytest.raises(ValueError, match=r"accumulate=2: method 'mimo'"):
        train(replace(BASE, method="mimo", accumulate=2))
    with pytest.raises(ValueError, match="accumulate must be"):
        TrainConfig(accumulate=0)


def test_unknown_precision_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="fp8")
    assert main(["train", "--precision", "fp8", "--epochs", "1"]) == 2
    assert "--precision: invalid choice: 'fp8'" in capsys.readouterr().err


DEVICES = ["cpu", pytest.param("cuda", marks=cuda)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("method", "precision"), [("mimo", "bf16"), ("uniform", "fp16")])
def test_mixed_precision_trains_like_fp32(
    method: str, precision: str, device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forward pass runs under autocast in the asked type (spied), and the run stays
    within the reduced precision's reach of the float32 one."""
    autocast = torch.autocast
    used: list[tuple[str, torch.dtype]] = []

    def spy(device_type: str, dtype: torch.dtype, **kwargs: Any) -> Any:
        used.append((device_type, dtype))
        return autocast(device_type, dtype=dtype, **kwargs)

    config = replace(BASE, method=method, device=device, precision=precision)
    reference = train(replace(config, precision="fp32")).history
    monkeypatch.setattr(torch, "autocast", spy)
    history = train(config).history
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert used and set(used) == {(device, dtype)}
    for a, b in zip(history, reference, strict=True):
        for key in LOGGED:
            assert a[key] == pytest.approx(b[key], rel=0.05), key


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_refused_for_methods_that_choose_weights(device: str) -> None:
    with pytest.raises(ValueError, match=r"precision='fp16': method 'mgda'"):
        train(replace(BASE, method="mgda", device=device, precision="fp16"))


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_resume_restores_the_loss_scaler(device: str, tmp_path: Path) -> None:
    """The GradScaler's state (scale, growth tracker) is checkpointed: a run crashed after
    its first epoch and resumed ends with the scaler state and losses of an uninterrupted
    run (a fresh scaler would restart its growth tracker at 0)."""
    config = replace(BASE, method="uniform", precision="fp16", epochs=3, device=device)
    whole = train(config, output_dir=tmp_path / "whole")
    with pytest.raises(_Crash):
        train(config, output_dir=tmp_path / "resumed", callback=_crash)
    resumed = train(config, output_dir=tmp_path / "resumed")
    assert resumed.resumed_from == 1
    states = [
        torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)["precision"]
        for name in ("whole", "resumed")
    ]
    assert states[0] == states[1]
    assert states[0]["_growth_tracker"] == 3 * 6  # 3 epochs of 6 steps (54 samples), none skipped
    for a, b in zip(_history(tmp_path / "resumed"), whole.history, strict=True):
        for key in LOGGED:
            assert a[key] == pytest.approx(b[key], rel=1e-6), key


@pytest.mark.parametrize(
    ("device", "layer"),
    [("cuda", torch.nn.SyncBatchNorm), ("cpu", _distributed.GlobalBatchNorm)],
)
def test_sync_batch_norm_converts_in_place_and_keeps_the_model(device: str, layer: type) -> None:
    """Under torchrun the trainer makes batch norm synchronized (torch's SyncBatchNorm on
    CUDA, GlobalBatchNorm elsewhere; the conversion itself needs no GPU): the same parameters
    (the optimizer is built afterwards but must see the same tensors the broadcast sends), the
    same state_dict (checkpoints stay interchangeable), the same function."""
    torch.manual_seed(0)
    model = build_model({"a": (1, 8, 8), "b": (12,)}, 3, encoder={"a": "cnn", "b": "mlp"})
    plain = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert plain > 0
    params = list(model.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = {"a": torch.randn(5, 1, 8, 8), "b": torch.randn(5, 12)}
    model.eval()
    expected = model(x).fusion
    assert _distributed.sync_batch_norm_(model, device) == plain
    batch_norms = [
        m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    assert len(batch_norms) == plain and all(type(m) is layer for m in batch_norms)
    assert all(not m.training for m in batch_norms)
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)
    torch.testing.assert_close(model(x).fusion, expected, rtol=0.0, atol=0.0)
    model.train()  # one process: plain batch norm in training too
    reference = build_model({"a": (1, 8, 8), "b": (12,)}, 3, encoder={"a": "cnn", "b": "mlp"})
    reference.load_state_dict(before)
    if device == "cpu":
        torch.testing.assert_close(model(x).fusion, reference(x).fusion, rtol=0.0, atol=0.0)
    with pytest.raises(TypeError, match="must contain the batch-norm layers"):
        _distributed.sync_batch_norm_(torch.nn.BatchNorm1d(3), device)


@pytest.fixture
def one_rank() -> Any:
    """A gloo group of one process (the collectives are identities)."""
    import tempfile

    _distributed.import_compiler()
    with tempfile.TemporaryDirectory() as folder:
        init = (Path(folder) / "store").resolve().as_uri()
        dist.init_process_group("gloo", init_method=init, rank=0, world_size=1)
        try:
            yield
        finally:
            _distributed.shutdown()


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(6, 4), (6, 4, 5, 5)])
def test_global_batch_norm_computes_batch_norm(
    momentum: float | None, shape: tuple[int, ...], one_rank: None
) -> None:
    """The global path (all-reduced sums, two-pass variance, running statistics) on one rank
    is BatchNorm to float32 rounding: outputs, input and parameter gradients, running
    statistics over three steps."""
    torch.manual_seed(0)
    kind = torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d
    reference = kind(4, momentum=momentum)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-0.5, 0.5)
    layer = _distributed.GlobalBatchNorm(4, momentum=momentum)
    layer.load_state_dict(reference.state_dict())
    for _ in range(3):
        x = (3.0 * torch.randn(shape) + 2.0).requires_grad_()
        x2 = x.detach().clone().requires_grad_()
        cotangent = torch.randn(shape)
        expected = reference(x)
        (expected * cotangent).sum().backward()
        y = layer._global_forward(x2)
        (y * cotangent).sum().backward()
        torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer.weight.grad, reference.weight.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer.bias.grad, reference.bias.grad, rtol=1e-5, atol=1e-5)
        reference.zero_grad()
        layer.zero_grad()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(layer.state_dict()[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "options", [{"affine": False}, {"track_running_stats": False}], ids=["no-affine", "no-stats"]
)
def test_global_batch_norm_variants_compute_batch_norm(
    options: dict[str, bool], one_rank: None
) -> None:
    """Without parameters, or without running statistics (the shift is then 0), the global
    path is still BatchNorm's, gradients included."""
    torch.manual_seed(0)
    reference = torch.nn.BatchNorm2d(4, **options)
    layer = _distributed.GlobalBatchNorm(4, **options)
    x = (3.0 * torch.randn(6, 4, 3, 3) + 2.0).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    cotangent = torch.randn(6, 4, 3, 3)
    expected = reference(x)
    (expected * cotangent).sum().backward()
    y = layer._global_forward(x2)
    (y * cotangent).sum().backward()
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-5)
    assert (layer.running_mean is None) == (not layer.track_running_stats)


def test_global_batch_norm_normalizes_lower_precision_in_float32(one_rank: None) -> None:
    """A bf16 input (autocast's output) is normalized in float32 and returned in bf16."""
    torch.manual_seed(0)
    layer = _distributed.GlobalBatchNorm(4)
    x = 3.0 * torch.randn(8, 4, 5, 5) + 2.0
    y = layer._global_forward(x.bfloat16())
    assert y.dtype == torch.bfloat16
    reference = torch.nn.functional.batch_norm(x.bfloat16().float(), None, None, training=True)
    torch.testing.assert_close(y.float(), reference, rtol=1e-2, atol=1e-2)
    assert layer.running_mean is not None and layer.running_mean.dtype == torch.float32


def test_global_batch_norm_refuses_what_batch_norm_refuses(one_rank: None) -> None:
    layer = _distributed.GlobalBatchNorm(3)
    with pytest.raises(ValueError, match=r"more than 1 value per channel .* got 1"):
        layer._global_forward(torch.randn(1, 3))
    with pytest.raises(ValueError, match="2 or more dimensions, got 1-D"):
        layer(torch.randn(3))
    x = torch.randn(4, 3, requires_grad=True)
    y = layer._global_forward(x)
    with pytest.raises(RuntimeError, match="cannot run in a batched backward pass"):
        torch.autograd.grad(y, x, grad_outputs=torch.randn(2, 4, 3), is_grads_batched=True)


def test_shard_bounds_cover_the_batch_contiguously() -> None:
    for n in range(0, 12):
        for world in (1, 2, 3, 4):
            bounds = [_distributed.shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            sizes = [hi - lo for lo, hi in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_init_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert _distributed.init_from_env("cpu") == _distributed.Ranks()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        _distributed.init_from_env("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match=r"RANK='2' must lie in \[0, 2\)"):
        _distributed.init_from_env("cpu")
