"""Training runs of the multimodal adapter: configuration, the loop, metrics logs, checkpoints.

`train` builds a run from a `TrainConfig` (dataset, model, method, optimizer, schedule, seed)
and runs `fit`, the loop every run goes through:

1. per epoch, batches in an order seeded by ``(seed, epoch)``; per step: zero the gradients,
   ``output = model(inputs, detach_*=method's flags)``, ``method.backward(...)`` writes
   ``.grad``, ``optimizer.step()``; the step's wall time and the method's subroutine time
   (``rule_time``) are recorded;
2. after each epoch, `moo_multimodal.metrics.evaluate` on the test split (fusion accuracy and
   macro-F1, uni-modal head accuracy per modality, worst-modality accuracy, imbalance,
   accuracy with each sensor dropped or noised) and, optionally, linear probes on the frozen
   encoders;
3. the epoch's record is appended to ``metrics.jsonl`` and ``metrics.csv`` and a checkpoint
   (model, optimizer, scheduler, method state, RNG state, history) is written **atomically**
   (a temporary file then ``os.replace``), so a run killed at any point resumes from its last
   finished epoch and ends with the same result as an uninterrupted run.

A run folder has one writer: `RunLock` (an exclusive lock on ``run.lock`` in the folder, held
for the whole run) refuses a second one with `RunLockedError`. The checkpoint before the last
one is kept as ``checkpoint.prev.pt``; a damaged last checkpoint falls back to it with a
`CheckpointWarning`. Checkpoints hold tensors, numbers, strings and containers only and are
read with ``torch.load(weights_only=True)``: one holding any other pickled object is refused,
never executed.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from moo.io import atomic_write_bytes
from moo.validation import check_choice, check_int, check_real, require
from moo_multimodal.augment import ModalityDropout
from moo_multimodal.data import DatasetSplits, MultimodalDataset, iterate_batches, load_dataset
from moo_multimodal.methods import Method, make_method
from moo_multimodal.metrics import evaluate, linear_probe
from moo_multimodal.models import MultimodalModel, build_model

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULERS: tuple[str, ...] = ("none", "step", "cosine")
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
# the files a run writes with atomic_write_bytes (their temporary files are ".NAME.*.tmp")
_RUN_FILES: tuple[str, ...] = (
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    "metrics.jsonl",
    "metrics.csv",
    "config.json",
    "dataset.txt",
)


class RunLockedError(OSError):
    """Another writer (process or thread) holds the run folder's lock."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped (the run resumed from the previous one)."""


class RunLock:
    """An exclusive lock on a run folder: ``run.lock`` in it, locked for as long as it is held.

    POSIX: ``fcntl.flock`` (a lock per open file, so two threads of one process exclude each
    other too); Windows: ``msvcrt.locking`` on the file's first byte. Either way the operating
    system releases the lock when its process dies, so the ``run.lock`` file a killed run
    leaves behind is stale and simply taken over; the file holds the pid of the last holder
    (named in the error). Network file systems that do not implement these locks are not
    protected.

    Use as a context manager, or `acquire` / `release`.

    Raises:
        RunLockedError: (from `acquire`) another writer holds the folder.
    """

    NAME = "run.lock"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / self.NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            raise RuntimeError(f"the lock of {self.folder} is held already by this RunLock")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _lock_fd(fd)
        except OSError as exc:
            try:
                holder = os.read(fd, 64).decode(errors="replace").split()
            except OSError:
                holder = []
            finally:
                os.close(fd)
            who = f" (pid {holder[0]})" if holder else ""
            raise RunLockedError(
                f"the run folder {self.folder} is in use by another writer{who}: one run per "
                "folder at a time; wait for it to finish or use another output folder"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _unlock_fd(fd)
            finally:
                os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    # a byte past the pid written at the start of the file (Windows locks are mandatory)
    _LOCKED_BYTE = 4096

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        finally:
            os.lseek(fd, 0, os.SEEK_SET)

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, _LOCKED_BYTE, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@dataclass
class TrainConfig:
    """Everything that defines a run (saved as ``config.json`` next to its results).

    Attributes:
        dataset: a registered dataset name (``moo-mm datasets``).
        dataset_options: options of the dataset loader (e.g. ``n_train`` for ``synthetic``);
            the data do not depend on `seed` unless given here (``seed`` option).
        root: the data folder of datasets read from disk.
        method: a method name (``moo-mm methods``, or one registered with
            `moo_multimodal.methods.register_method`); method_options: its hyperparameters.
            A method with randomness (one whose constructor, or whose moo rule's, declares a
            ``seed``: OGM-GE's noise, PCGrad's projection order) draws from `seed` unless
            method_options give its ``seed``.
        encoder: one encoder kind for every modality, or ``None`` for the dataset's
            recommended encoders; encoder_options: options given to every encoder.
        fusion: ``concat``, ``sum``, ``gated`` or ``film``; fusion_dim: its width.
        epochs, batch_size: the budget.
        optimizer: ``adam`` or ``sgd`` (with `momentum`); lr, weight_decay.
        scheduler: ``none``, ``step`` (multiply the rate by `lr_gamma` every `lr_step`
            epochs, as the OGM-GE / MMPareto protocols do) or ``cosine`` (over `epochs`).
        seed: model initialization, batch order and the methods' own randomness.
        device: a torch device string (``cpu``, ``cuda``, ``cuda:1``); checked when the
            config is made: a string torch does not parse, or a device this torch build or
            machine does not have (``cuda`` on a CPU-only build, ``cuda:3`` with two GPUs), is
            a ``ValueError`` naming it, before any data are loaded.
        probes: fit linear probes on the frozen encoders after each epoch.
        noise_std: the sensor-noise level of the robustness metrics (in units of each
            modality's input standard deviation).
        eval_batch_size: batch size of evaluation.
        modality_dropout: the probability that a training sample loses one modality (replaced
            by its mean training input; see `moo_multimodal.augment.ModalityDropout`), in
            ``[0, 1)``; 0 (default) trains on complete inputs.
    """

    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    root: str | None = None
    method: str = "mimo"
    method_options: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    fusion: str = "concat"
    fusion_dim: int | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "none"
    lr_step: int = 30
    lr_gamma: float = 0.1
    seed: int = 0
    device: str = "cpu"
    probes: bool = True
    noise_std: float = 1.0
    eval_batch_size: int = 512
    modality_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.epochs = check_int(self.epochs, "epochs", low=1)
        self.batch_size = check_int(self.batch_size, "batch_size", low=1)
        self.eval_batch_size = check_int(self.eval_batch_size, "eval_batch_size", low=1)
        self.seed = check_int(self.seed, "seed", low=0)
        self.optimizer = check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        self.scheduler = check_choice(self.scheduler, "scheduler", SCHEDULERS)
        self.lr = check_real(self.lr, "lr", low=0.0, low_open=True)
        self.momentum = check_real(self.momentum, "momentum", low=0.0)
        self.weight_decay = check_real(self.weight_decay, "weight_decay", low=0.0)
        self.lr_step = check_int(self.lr_step, "lr_step", low=1)
        self.lr_gamma = check_real(self.lr_gamma, "lr_gamma", low=0.0, low_open=True)
        self.noise_std = check_real(self.noise_std, "noise_std", low=0.0)
        self.modality_dropout = check_real(
            self.modality_dropout, "modality_dropout", low=0.0, high=1.0, high_open=True
        )
        self.device = _check_device(self.device)
        for name in ("dataset_options", "method_options", "encoder_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping, got {value!r}")
            setattr(self, name, dict(value))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The inverse of `to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; known: {sorted(known)}")
        return cls(**dict(data))


def _check_device(device: Any) -> str:
    """``device`` as a string, if torch parses it and this build and machine have it."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"device {device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1'): {exc}"
        ) from exc
    if dev.type == "cpu":
        return device
    if dev.type == "meta":
        raise ValueError(f"device {device!r} holds no data: training needs 'cpu' or a GPU")
    if dev.type == "cuda":
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            raise ValueError(
                f"device {device!r}: this torch build has no CUDA support (a CPU-only build, "
                f"torch {torch.__version__}); use device='cpu' or install a CUDA build of torch"
            )
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device!r}: no CUDA GPU is visible on this machine")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {device!r}: this machine has {count} CUDA GPU(s)")
        return device
    backend = getattr(torch, dev.type, None)
    if dev.type == "mps":
        backend = getattr(torch.backends, "mps", None)
    available = getattr(backend, "is_available", None)
    if callable(available) and not available():
        raise ValueError(f"device {device!r}: {dev.type} is not available on this machine")
    return device


@dataclass
class RunResult:
    """A finished (or resumed-and-finished) run.

    Attributes:
        history: one record per epoch (see `fit`); ``final`` is the last one.
        model: the trained model; method: the method (with its final state).
        output_dir: where logs and the checkpoint are, or ``None``.
    """

    history: list[dict[str, float]]
    model: MultimodalModel
    method: Method
    output_dir: Path | None = None

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1]


def _write_logs(out: Path, history: list[dict[str, float]]) -> None:
    lines = "".join(json.dumps(r) + "\n" for r in history)
    atomic_write_bytes(out / "metrics.jsonl", lines.encode())
    keys: list[str] = []
    for r in history:
        keys.extend(k for k in r if k not in keys)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(out / "metrics.csv", buf.getvalue().encode())


def _make_optimizer(
    model: torch.nn.Module, config: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    params = list(model.parameters())
    opt: torch.optim.Optimizer
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    sched: torch.optim.lr_scheduler.LRScheduler | None = None
    if config.scheduler == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, config.lr_step, config.lr_gamma)
    elif config.scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs)
    return opt, sched


def build_run(
    config: TrainConfig, splits: DatasetSplits | None = None
) -> tuple[DatasetSplits, MultimodalModel, Method]:
    """The data, the model (initialized from ``config.seed``) and the method of a run (built
    by `make_method` with ``run_seed=config.seed``: the seed protocol)."""
    if splits is None:
        splits = load_dataset(config.dataset, root=config.root, **config.dataset_options)
    if config.encoder is None:
        kinds: dict[str, str] = {m: kind for m, (kind, _) in splits.encoders.items()}
        options = {
            m: {**opts, **config.encoder_options} for m, (_, opts) in splits.encoders.items()
        }
    else:
        kinds = dict.fromkeys(splits.train.modalities, config.encoder)
        options = {m: dict(config.encoder_options) for m in splits.train.modalities}
    torch.manual_seed(config.seed)
    model = build_model(
        splits.train.input_shapes,
        splits.train.num_classes,
        encoder=kinds,
        encoder_options=options,
        fusion=config.fusion,
        fusion_dim=config.fusion_dim,
    )
    # the seed protocol: a method (or rule) that declares a seed gets the run's seed, unless
    # method_options give one
    method = make_method(config.method, run_seed=config.seed, **config.method_options)
    return splits, model, method


def train(
    config: TrainConfig,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = False,
    tensorboard: bool = False,
    callback: Callable[[dict[str, float]], None] | None = None,
    splits: DatasetSplits | None = None,
) -> RunResult:
    """Run one training run described by ``config`` (see `fit` for the loop and its outputs).

    Args:
        config: the run.
        output_dir: where ``config.json``, ``dataset.txt`` (the loaded data's description),
            ``metrics.jsonl``, ``metrics.csv`` and the checkpoint go; ``None`` keeps
            everything in memory.
        resume: continue from ``output_dir``'s checkpoint when there is one (its config must
            equal ``config`` up to ``epochs``, which may grow, not shrink: see `fit`).
        progress: a tqdm progress bar over epochs (needs ``tqdm``).
        tensorboard: also log every record to TensorBoard under ``output_dir/tb`` (needs
            the ``tensorboard`` package).
        callback: called with each epoch's record after it is saved.
        splits: data already loaded (skips ``load_dataset``; must be what ``config`` names).
    """
    splits, model, method = build_run(config, splits)
    return fit(
        model,
        method,
        splits.train,
        splits.test,
        config,
        output_dir=output_dir,
        resume=resume,
        progress=progress,
        tensorboard=tensorboard,
        callback=callback,
        data_description=splits.description,
    )


def _check_modalities(model: MultimodalModel, data: MultimodalDataset, name: str) -> None:
    if tuple(sorted(model.modalities)) != tuple(sorted(data.modalities)):
        raise ValueError(
            f"the model's modalities {list(model.modalities)} do not match the {name} "
            f"data's {list(data.modalities)}"
        )
    if model.num_classes != data.num_classes:
        raise ValueError(
            f"the model has {model.num_classes} classes, the {name} data {data.num_classes}"
        )


_NDARRAY = "__moo_ndarray__"


def _encode_state(value: Any) -> Any:
    """``value`` with NumPy arrays and scalars stored as tagged tensors, so that a checkpoint
    holds tensors, numbers, strings and containers only (what ``weights_only=True`` reads)."""
    if isinstance(value, dict):
        return {k: _encode_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode_state(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_encode_state(v) for v in value)
    if isinstance(value, np.ndarray | np.generic):
        scalar = isinstance(value, np.generic)
        array = np.ascontiguousarray(np.asarray(value))
        try:
            tensor = torch.from_numpy(array.copy())
        except TypeError as exc:
            raise TypeError(
                f"a checkpoint cannot hold a NumPy array of dtype {array.dtype} (method state)"
            ) from exc
        return {_NDARRAY: tensor, "scalar": scalar}
    return value


def _decode_state(value: Any) -> Any:
    """The inverse of `_encode_state`."""
    if isinstance(value, dict):
        if _NDARRAY in value:
            array = value[_NDARRAY].numpy()
            return array[()] if value.get("scalar") else array
        return {k: _decode_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_state(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode_state(v) for v in value)
    return value


try:  # NumPy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

# NumPy arrays, as checkpoints written before method states were stored as tensors hold them
# (the reconstruction NumPy's pickling uses, the array and dtype types): allowed when reading
_LEGACY_SAFE_GLOBALS: list[Any] = [
    _reconstruct,
    np.ndarray,
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Float32DType,
    np.dtypes.Int64DType,
    np.dtypes.BoolDType,
]

_STATE_KEYS = frozenset(
    {"config", "epoch", "model", "optimizer", "scheduler", "method", "torch_rng", "history"}
)


class _DamagedCheckpoint(Exception):
    """A checkpoint file that cannot be read (truncated, torn, not a checkpoint)."""


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """``path``'s state, read with ``weights_only=True``.

    Raises:
        ValueError: the file holds pickled objects other than tensors, numbers, strings,
            containers (and NumPy arrays of older checkpoints): refused, nothing executed.
        _DamagedCheckpoint: the file cannot be read as a checkpoint.
    """
    try:
        with torch.serialization.safe_globals(_LEGACY_SAFE_GLOBALS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # unreadable: damaged, reported below
            unsafe = []
        allowed = {f"{g.__module__}.{g.__qualname__}" for g in _LEGACY_SAFE_GLOBALS}
        unsafe = [g for g in unsafe if g not in allowed]
        if unsafe:
            raise ValueError(
                f"checkpoint {path} holds pickled objects that are not tensors, numbers, "
                f"strings or containers ({', '.join(unsafe)}): refused, nothing in it was "
                "loaded or run. Checkpoints are read with torch.load(weights_only=True); "
                "delete the file, or use resume=False to start over, if you do not trust it"
            ) from exc
        raise _DamagedCheckpoint(f"{type(exc).__name__}: {exc}") from exc
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _DamagedCheckpoint(f"{type(exc).__name__}: {first}") from exc
    if not isinstance(state, dict) or not _STATE_KEYS <= set(state):
        raise _DamagedCheckpoint("not a checkpoint of moo_multimodal.training (keys missing)")
    return state


def _find_checkpoint(out: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest usable checkpoint in ``out`` and its state: ``checkpoint.pt``, or
    ``checkpoint.prev.pt`` (with a `CheckpointWarning` when the last one is damaged; the
    damaged file is kept as ``checkpoint.pt.damaged``); ``None`` when there is none.

    Raises:
        ValueError: files exist but none is usable; a checkpoint holds unsafe objects.
    """
    problems: list[tuple[Path, str]] = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = out / name
        if not path.exists():
            continue
        try:
            state = _read_checkpoint(path)
        except _DamagedCheckpoint as exc:
            problems.append((path, str(exc)))
            continue
        if problems:
            damaged, reason = problems[0]
            kept = damaged.with_name(f"{damaged.name}.damaged")
            warnings.warn(
                f"checkpoint {damaged} is damaged ({reason}); resuming from the previous one, "
                f"{path} (epoch {state['epoch']}); the damaged file is kept as {kept}",
                CheckpointWarning,
                stacklevel=4,
            )
            os.replace(damaged, kept)
        return path, state
    if problems:
        listed = "; ".join(f"{path} ({reason})" for path, reason in problems)
        raise ValueError(
            f"no usable checkpoint in {out}: {listed}. Use resume=False (moo-mm: another "
            "--out, or delete the checkpoint files) to start over"
        )
    return None


def _load_checkpoint(
    path: Path,
    state: Mapping[str, Any],
    config: TrainConfig,
    model: MultimodalModel,
    method: Method,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
) -> list[dict[str, float]]:
    saved = {**_ADDED_FIELDS, **state["config"]}
    mine = config.to_dict()
    saved_epochs = saved.pop("epochs", None)
    mine.pop("epochs", None)
    if saved != mine:
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        raise ValueError(
            f"{path} holds a run with a different configuration (differs in {diff}): use "
            "another output_dir, or resume=False to start over"
        )
    history = list(state["history"])
    if len(history) > config.epochs:
        raise ValueError(
            f"{path.parent} holds a run with {len(history)} finished epochs, more than "
            f"epochs={config.epochs}: a run cannot be shortened (its model is the "
            f"{len(history)}-epoch one). Use epochs={len(history)} for the finished run, "
            "another output folder, or resume=False to start over"
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if sched is not None and state["scheduler"] is not None:
        if config.scheduler == "cosine" and saved_epochs != config.epochs:
            _rebuild_cosine(opt, sched, config, len(history))
        else:
            sched.load_state_dict(state["scheduler"])
    method.load_state_dict(_decode_state(state["method"]))
    torch.set_rng_state(state["torch_rng"])
    return history


def _rebuild_cosine(
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    done: int,
) -> None:
    """Put ``sched`` (a cosine schedule over ``config.epochs``) and ``opt``'s rates where a
    fresh ``config.epochs``-epoch run has them after ``done`` epochs: the same scheduler
    stepped ``done`` times on a stand-in optimizer, so the rates are those floats exactly."""
    stand_in = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    replay = torch.optim.lr_scheduler.CosineAnnealingLR(stand_in, config.epochs)
    for _ in range(done):
        stand_in.step()
        replay.step()
    sched.load_state_dict(replay.state_dict())
    for group in opt.param_groups:
        group["lr"] = stand_in.param_groups[0]["lr"]
        group["initial_lr"] = config.lr


# TrainConfig fields added after runs were saved without them, with the value those runs had
_ADDED_FIELDS: dict[str, Any] = {"modality_dropout": 0.0}


def _save_checkpoint(
    path: Path,
    config: TrainConfig,
    model: MultimodalModel,
    method: Method,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    history: list[dict[str, float]],
) -> None:
    state = {
        "config": config.to_dict(),
        "epoch": len(history),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": None if sched is None else sched.state_dict(),
        "method": _encode_state(method.state_dict()),
        "torch_rng": torch.get_rng_state(),
        "history": history,
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    # the last checkpoint becomes the previous one (a kill between the two steps leaves the
    # previous one, which resuming reads when the last is missing)
    if path.exists():
        os.replace(path, path.with_name(PREVIOUS_CHECKPOINT))
    atomic_write_bytes(path, buf.getvalue())


def _clean_temporary_files(out: Path) -> None:
    """Remove the temporary files of writes a killed run left (called holding the lock)."""
    for name in _RUN_FILES:
        for tmp in out.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _stream_seed(seed: int, epoch: int, purpose: str) -> int:
    """A 63-bit seed for one epoch's random stream of one ``purpose``, independent of the
    others (NumPy's SeedSequence over the seed, the epoch and the purpose's bytes)."""
    entropy = [seed, epoch, *purpose.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def _timing_event() -> torch.cuda.Event:
    """A CUDA event that records time."""
    # torch.cuda.Event's constructor has no annotations in torch
    return torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]


def _to(inputs: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {m: x.to(device, non_blocking=True) for m, x in inputs.items()}


def fit(
    model: MultimodalModel,
    method: Method,
    train_data: MultimodalDataset,
    test_data: MultimodalDataset,
    config: TrainConfig,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = False,
    tensorboard: bool = False,
    callback: Callable[[dict[str, float]], None] | None = None,
    data_description: str | None = None,
) -> RunResult:
    """Train ``model`` with ``method`` for ``config.epochs`` epochs (the optimizer, schedule,
    batch size, seed, device and metrics options come from ``config``).

    Each epoch's record holds: ``epoch`` (finished epochs), ``lr``, ``train/fusion_loss``,
    ``train/loss/<m>`` (epoch means), ``weight/<name>`` (mean of the method's weights),
    ``step_ms`` (mean time of forward + method + optimizer step: host wall time on CPU, CUDA
    events on a GPU, read once per epoch so that the timing adds no synchronization), ``rule_us``
    (mean subroutine time), the test metrics of `moo_multimodal.metrics.evaluate` and, with
    ``config.probes``, ``probe/<m>``, ``worst_probe`` and ``probe_imbalance``; and
    ``data/unreadable``, the training clips found unreadable so far and replaced, when a
    dataset read with ``missing="skip"`` met one.

    With ``output_dir``: ``data_description`` (what `train` passes: the loaded
    `DatasetSplits.description`, with the label order a published layout was read in) is
    written to ``dataset.txt``; the folder is locked for the whole call (`RunLock`; a second writer
    gets `RunLockedError`), temporary files of interrupted writes are removed, and with
    ``resume`` the run continues from the newest usable checkpoint (`CheckpointWarning` when
    the last one is damaged and the previous one is used). Resuming with a larger
    ``config.epochs`` extends the run; a ``cosine`` schedule is then rebuilt as the longer
    run has it (the remaining epochs get the rates a fresh run of ``config.epochs`` epochs
    has at those epochs; the finished ones keep the rates they were trained with).

    Raises:
        ValueError: the model's modalities or classes differ from the data's; a checkpoint
            with another configuration in ``output_dir``, or with more finished epochs than
            ``config.epochs``; a checkpoint holding pickled objects other than tensors and
            plain containers (refused, not run); no usable checkpoint where files exist;
            non-finite losses or gradients (named by objective).
        RunLockedError: another writer holds ``output_dir``.
        ImportError: ``progress`` without tqdm, ``tensorboard`` without tensorboard.
    """
    _check_modalities(model, train_data, "training")
    _check_modalities(model, test_data, "test")
    out = None if output_dir is None else Path(output_dir)
    with contextlib.ExitStack() as stack:
        if out is not None:
            stack.enter_context(RunLock(out))
            _clean_temporary_files(out)
            if data_description is not None:
                text = data_description.rstrip() + "\n"
                atomic_write_bytes(out / "dataset.txt", text.encode())
        return _fit(
            model,
            method,
            train_data,
            test_data,
            config,
            out,
            resume,
            progress,
            tensorboard,
            callback,
        )


def _fit(
    model: MultimodalModel,
    method: Method,
    train_data: MultimodalDataset,
    test_data: MultimodalDataset,
    config: TrainConfig,
    out: Path | None,
    resume: bool,
    progress: bool,
    tensorboard: bool,
    callback: Callable[[dict[str, float]], None] | None,
) -> RunResult:
    """`fit`'s loop (holding the run folder's lock when there is one)."""
    device = torch.device(config.device)
    model.to(device)
    opt, sched = _make_optimizer(model, config)
    history: list[dict[str, float]] = []
    if out is not None:
        found = _find_checkpoint(out) if resume else None
        if found is not None:
            path, state = found
            history = _load_checkpoint(path, state, config, model, method, opt, sched)
        atomic_write_bytes(out / "config.json", json.dumps(config.to_dict(), indent=2).encode())
    writer = _tensorboard(out) if tensorboard else None
    epochs = range(len(history), config.epochs)
    bar: Any = epochs
    if progress:
        tqdm = require("tqdm", "progress=True", "progress").tqdm
        bar = tqdm(epochs, desc=f"{method.name} seed {config.seed}", leave=False)
    cuda = device.type == "cuda"
    dropout = (
        ModalityDropout.from_dataset(config.modality_dropout, train_data, config.eval_batch_size)
        if config.modality_dropout > 0
        else None
    )
    for epoch in bar:
        model.train()
        sums: dict[str, float] = {}
        n_steps = 0
        # CUDA: step times from events read once per epoch (no synchronization per step)
        events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        # the dropout draws: a stream of their own (the batch order uses seed·1_000_003 + epoch)
        drops = torch.Generator().manual_seed(_stream_seed(config.seed, epoch, "modality_dropout"))
        for inputs, labels in iterate_batches(
            train_data, config.batch_size, shuffle=True, seed=config.seed * 1_000_003 + epoch
        ):
            inputs, labels = _to(inputs, device), labels.to(device, non_blocking=True)
            if dropout is not None:
                inputs = dropout(inputs, drops)
            if cuda:
                events.append((_timing_event(), _timing_event()))
                events[-1][0].record()
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            output = model(
                inputs, detach_unimodal=method.detach_unimodal, detach_fusion=method.detach_fusion
            )
            rep = method.backward(model, output, labels, epoch=epoch)
            opt.step()
            if cuda:
                events[-1][1].record()
            step_time = time.perf_counter() - start
            row = {
                "train/fusion_loss": rep.fusion_loss,
                **{f"train/loss/{m}": v for m, v in rep.unimodal_losses.items()},
                **{f"weight/{k}": v for k, v in rep.weights.items()},
                "step_ms": 1e3 * step_time,
                "rule_us": 1e6 * rep.rule_time,
            }
            for k, v in row.items():
                sums[k] = sums.get(k, 0.0) + v
            n_steps += 1
        if events:
            torch.cuda.synchronize(device)
            sums["step_ms"] = sum(a.elapsed_time(b) for a, b in events)  # milliseconds
        if sched is not None:
            sched.step()
        record: dict[str, float] = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"]}
        record.update({k: v / max(n_steps, 1) for k, v in sums.items()})
        record.update(
            evaluate(
                model,
                test_data,
                batch_size=config.eval_batch_size,
                noise_std=config.noise_std,
                seed=config.seed,
            )
        )
        if config.probes:
            probes = linear_probe(
                model, train_data, test_data, seed=config.seed, batch_size=config.eval_batch_size
            )
            record.update(probes)
            accs = [probes[f"probe/{m}"] for m in model.modalities]
            record["worst_probe"] = min(accs)
            record["probe_imbalance"] = max(accs) / min(accs) if min(accs) > 0 else math.inf
        unreadable = len(getattr(train_data, "unreadable", ()))  # replaced (missing="skip")
        if unreadable:
            record["data/unreadable"] = unreadable
        history.append(record)
        if out is not None:
            _write_logs(out, history)
            _save_checkpoint(out / CHECKPOINT, config, model, method, opt, sched, history)
        if writer is not None:
            for k, v in record.items():
                writer.add_scalar(k, v, epoch + 1)
            writer.flush()
        if callback is not None:
            callback(record)
    if writer is not None:
        writer.close()
    return RunResult(history, model, method, out)


def _tensorboard(out: Path | None) -> Any:
    if out is None:
        raise ValueError("tensorboard=True needs an output_dir (the logs go to output_dir/tb)")
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ImportError(
            "tensorboard=True needs the tensorboard package: pip install tensorboard"
        ) from exc
    return SummaryWriter(str(out / "tb"))
