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
import copy
import csv
import dataclasses
import functools
import inspect
import io
import json
import math
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from moo.io import atomic_write_bytes
from moo.validation import check_bool, check_choice, check_int, check_real, require
from moo_multimodal import _distributed
from moo_multimodal.augment import ModalityDropout
from moo_multimodal.data import (
    DatasetSplits,
    EmptyHoldoutError,
    MultimodalDataset,
    TensorDataset,
    holdout_split,
    iterate_batches,
    load_dataset,
)
from moo_multimodal.methods import Method, make_method
from moo_multimodal.methods._base import loss_weight
from moo_multimodal.metrics import (
    Moments,
    ProbeFeatures,
    evaluation_sums,
    fit_probes,
    input_moments,
    linear_probe,
    probe_features,
)
from moo_multimodal.models import MultimodalModel, build_model

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
SCHEDULERS: tuple[str, ...] = ("none", "step", "cosine")
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
SELECTED_MODEL = "selected.pt"
RESULTS = "results.json"
CUSTOM_DATASET = "custom"
# the files a run writes with atomic_write_bytes (their temporary files are ".NAME.*.tmp")
_RUN_FILES: tuple[str, ...] = (
    CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    "metrics.jsonl",
    "metrics.csv",
    "config.json",
    "dataset.txt",
    SELECTED_MODEL,
    RESULTS,
)


class RunLockedError(OSError):
    """Another writer (process or thread) holds the run folder's lock."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped (the run resumed from the previous one)."""


class ResumeRefusedError(ValueError):
    """A run folder's checkpoint cannot be resumed with this configuration (another
    configuration, more finished epochs, no usable checkpoint, an unsafe file).

    ``str(error)`` names the Python ways out (``resume=False``, another ``output_dir``);
    `cli_message` names those of ``moo-mm`` (``--no-resume``, another ``--out``).
    """

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(template.format(restart="resume=False", elsewhere="another output_dir"))

    def cli_message(self) -> str:
        """The message with the command line's flags."""
        return self.template.format(restart="--no-resume", elsewhere="another --out")


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
        valid_fraction: the fraction of the training split held out as the validation split
            of model selection when the dataset has no validation split of its own: a
            stratified hold-out (``round(valid_fraction · n_c)`` samples of each class, at
            least one and at most ``n_c - 1``) drawn with `valid_seed`, in ``[0, 1)``;
            default 0.1. 0 holds out nothing: without a validation split of the dataset's
            own, no model selection (the last epoch is the selected one); the same, with a
            warning, when no sample can be held out (every class has a single sample). The
            dataset's own validation split (av-mnist, cmu-mosei, ur-funny, an ``.npz`` with
            ``valid_idx``) is used whatever this says.
        valid_seed: the seed of the hold-out (fixed across training seeds by default, so
            that every seed of a comparison trains and selects on the same data).
        select_metric: the validation metric that selects the checkpoint (a key of
            `moo_multimodal.metrics.evaluate`: ``fusion_acc`` (default), ``fusion_f1``,
            ``fusion_loss``, ``worst_acc``, ``imbalance``, ``acc/<m>``, ``worst_drop``,
            ``drop/<m>``, ``worst_absent``, ...); lower is better for ``fusion_loss`` and
            ``imbalance``, higher for the others. The first epoch with the best value is
            selected (ties keep the earlier one).
        patience: early stopping: stop when `select_metric` has not improved for
            ``patience`` epochs; ``None`` (default) trains every epoch. Needs a validation
            split.
        accumulate: gradient accumulation: each optimizer step sums the gradients of
            ``accumulate`` consecutive batches of `batch_size` samples, which equals one step
            on a batch of ``accumulate · batch_size`` samples (same samples, same order), for
            the methods whose gradient is a fixed linear combination of the losses (joint,
            uniform, unimodal; `Method.accumulates`). Methods that choose weights from a
            batch's losses or gradients (the moo rules, MIMO, OGM-GE, MMPareto) are refused
            with ``accumulate > 1``: their weights would be those of each micro-batch, not
            of the whole batch. Default 1.
        precision: ``fp32`` (default), ``bf16`` or ``fp16``: the model's forward pass runs
            under ``torch.autocast`` in that type (the logits are cast back to float32
            before the losses; parameters, gradients and the optimizer stay float32; the
            rules' weights stay float64 on the host); ``fp16`` scales the losses with a
            ``torch.amp.GradScaler`` (its state is checkpointed) and is allowed for the
            methods whose gradient is proportional to a common scale of the losses
            (`Method.accumulates`), since the rules' weights depend on the scale of the
            losses or gradients. Meant for GPUs; it also runs on the CPU (torch's CPU
            autocast), where it is fast only on processors with bf16/fp16 arithmetic.
        sync_batch_norm: under several processes, normalize every training batch with the
            statistics of the global batch (default ``True``: the batch-norm layers become
            ``torch.nn.SyncBatchNorm`` on CUDA, `GlobalBatchNorm` elsewhere), so that the
            run equals the one-process run; ``False`` keeps each rank's statistics (as
            ``DistributedDataParallel`` does by default), which saves two collectives per
            layer and step. No effect with one process or without batch norm.
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
    valid_fraction: float = 0.1
    valid_seed: int = 0
    select_metric: str = "fusion_acc"
    patience: int | None = None
    accumulate: int = 1
    precision: str = "fp32"
    sync_batch_norm: bool = True

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
        self.valid_fraction = check_real(
            self.valid_fraction, "valid_fraction", low=0.0, high=1.0, high_open=True
        )
        self.valid_seed = check_int(self.valid_seed, "valid_seed", low=0)
        self.select_metric = _check_select_metric(self.select_metric)
        if self.patience is not None:
            self.patience = check_int(self.patience, "patience", low=1)
        self.device = _check_device(self.device)
        self.accumulate = check_int(self.accumulate, "accumulate", low=1)
        self.precision = check_choice(self.precision, "precision", PRECISIONS)
        self.sync_batch_norm = check_bool(self.sync_batch_norm, "sync_batch_norm")
        for name in ("dataset_options", "method_options", "encoder_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping, got {value!r}")
            setattr(self, name, dict(value))
        # dataclass values (ModalitySpec) as the dicts config.json records them
        self.dataset_options = {k: _plain(v) for k, v in self.dataset_options.items()}

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


# validation metrics of `evaluate` where lower is better (higher for every other one)
def _plain(value: Any) -> Any:
    """Dataclass instances as dicts and tuples as lists, recursively: the form `to_dict`
    writes, so that ``TrainConfig.from_dict(c.to_dict()) == c``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


LOWER_IS_BETTER: frozenset[str] = frozenset({"fusion_loss", "imbalance"})
_SELECT_METRICS: tuple[str, ...] = (
    "fusion_acc",
    "fusion_f1",
    "fusion_loss",
    "worst_acc",
    "imbalance",
    "worst_drop",
    "worst_noise",
    "worst_absent",
)
_PER_MODALITY_METRICS: tuple[str, ...] = ("acc/", "drop/", "noise/", "absent/")


def _check_select_metric(metric: Any) -> str:
    if not isinstance(metric, str):
        raise TypeError(f"select_metric must be a metric name (str), got {metric!r}")
    name = metric.removeprefix("val/")
    per_modality = any(name.startswith(p) and len(name) > len(p) for p in _PER_MODALITY_METRICS)
    if name not in _SELECT_METRICS and not per_modality:
        raise ValueError(
            f"select_metric {metric!r} is not a validation metric; one of "
            f"{', '.join(_SELECT_METRICS)}, or acc/<m>, drop/<m>, noise/<m>, absent/<m> for a "
            "modality m"
        )
    return name


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
    try:
        backend = getattr(torch.backends, "mps", None) if dev.type == "mps" else None
        if backend is None:
            backend = getattr(torch, dev.type, None)
        available = getattr(backend, "is_available", None)
        usable = bool(available()) if callable(available) else None
    except Exception:  # a backend module that fails to import or answer: not usable
        usable = False
    if usable is None:
        # torch parses the type but has no backend for it here (ipu, xla, hpu, mkldnn, ...):
        # moving a model there fails deep inside torch
        raise ValueError(
            f"device {device!r}: this torch build cannot train on {dev.type!r} devices (it "
            f"has no torch.{dev.type} backend); use 'cpu', 'cuda' or 'mps'"
        )
    if not usable:
        raise ValueError(f"device {device!r}: {dev.type} is not available on this machine")
    return device


@dataclass
class RunResult:
    """A finished (or resumed-and-finished) run.

    Attributes:
        history: one record per epoch (see `fit`); ``final`` is the last one, ``selected``
            the one of the selected epoch.
        model: the trained model (the last epoch's); method: the method (with its final
            state).
        output_dir: where logs and the checkpoint are, or ``None``.
        selected_epoch: the epoch with the best validation ``config.select_metric`` (the
            first one on ties), or the last epoch when there is no validation split.
        selected_state: the model's ``state_dict`` (on the CPU) at ``selected_epoch``
            (``None`` when it is the last epoch's: ``model``'s own).
        stopped_early: the run stopped before ``config.epochs`` (``config.patience``).
        resumed_from: the finished epochs read from a checkpoint (0: a fresh run).
        config: the configuration as recorded (``config.json``): the method and dataset
            names are those of what was trained (`fit`).
    """

    history: list[dict[str, float]]
    model: MultimodalModel
    method: Method
    output_dir: Path | None = None
    selected_epoch: int = 0
    selected_state: dict[str, torch.Tensor] | None = None
    stopped_early: bool = False
    resumed_from: int = 0
    config: TrainConfig | None = None

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's record."""
        return self.history[-1]

    @property
    def selected(self) -> dict[str, float]:
        """The selected epoch's record (its test metrics are those of the selected model)."""
        return self.history[(self.selected_epoch or len(self.history)) - 1]

    def selected_model(self) -> MultimodalModel:
        """A copy of ``model`` holding the selected epoch's weights (``model`` itself stays
        the last epoch's)."""
        model = copy.deepcopy(self.model)
        if self.selected_state is not None:
            model.load_state_dict(self.selected_state)
        return model


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
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Run one training run described by ``config`` (see `fit` for the loop, the
    validation split and model selection, and the outputs).

    Args:
        config: the run.
        output_dir: where ``config.json``, ``dataset.txt`` (the loaded data's description),
            ``metrics.jsonl``, ``metrics.csv``, the checkpoint, ``results.json`` (the
            selected and the last epoch's records) and ``selected.pt`` (the selected model's
            weights) go; ``None`` keeps everything in memory.
        resume: continue from ``output_dir``'s checkpoint when there is one (its config must
            equal ``config`` up to ``epochs``, which may grow, not shrink: see `fit`).
        progress: a tqdm progress bar over epochs (needs ``tqdm``).
        tensorboard: also log every record to TensorBoard under ``output_dir/tb`` (needs
            the ``tensorboard`` package).
        callback: called with each epoch's record after it is saved.
        splits: data already loaded (skips ``load_dataset``; must be what ``config`` names).
        log: called with a line when the run resumes (saying from which epoch) or stops
            early (``moo-mm`` prints them).

    The validation split is the dataset's own (`DatasetSplits.valid`) where it has one,
    else a stratified hold-out of its training split (``config.valid_fraction``).
    """
    splits, model, method = build_run(config, splits)
    return fit(
        model,
        method,
        splits.train,
        splits.test,
        config,
        valid_data=splits.valid,
        dataset=config.dataset,
        log=log,
        output_dir=output_dir,
        resume=resume,
        progress=progress,
        tensorboard=tensorboard,
        callback=callback,
        data_description=splits.description,
    )


def warm_up(config: TrainConfig, splits: DatasetSplits, steps: int = 3) -> int:
    """Train a throwaway model and method of ``config``'s run for ``steps`` untimed steps on
    the batches of ``splits.train`` (in order, from the first again when there are fewer), so
    that the process's one-time costs (allocator,
    thread pools, lazy initialization, on a GPU the kernels' first launches) are paid before
    any run is timed. Nothing is kept or written and torch's global random state is put back;
    runs seed themselves (`build_run`), so a warm-up does not change any run's result.

    Returns:
        the steps trained: ``steps``.

    Raises:
        ValueError: ``steps`` is not a non-negative integer.
    """
    steps = check_int(steps, "steps", low=0)
    if steps == 0:
        return 0
    rng = torch.get_rng_state()
    try:
        _, model, method = build_run(config, splits)
        device = torch.device(config.device)
        model.to(device)
        opt, _ = _make_optimizer(model, config)
        done = 0
        while done < steps:  # the training split's batches, again from the first if needed
            for inputs, labels in iterate_batches(splits.train, config.batch_size):
                if done == steps:
                    break
                inputs, labels = _to(inputs, device), labels.to(device)
                opt.zero_grad(set_to_none=True)
                output = model(
                    inputs,
                    detach_unimodal=method.detach_unimodal,
                    detach_fusion=method.detach_fusion,
                )
                method.backward(model, output, labels, epoch=0)
                opt.step()
                done += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    finally:
        torch.set_rng_state(rng)
    return done


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
            raise ResumeRefusedError(
                _braces(
                    f"checkpoint {path} holds pickled objects that are not tensors, numbers, "
                    f"strings or containers ({', '.join(unsafe)}): refused, nothing in it was "
                    "loaded or run. Checkpoints are read with torch.load(weights_only=True); "
                )
                + "delete the file, or use {restart} to start over, if you do not trust it"
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
        raise ResumeRefusedError(
            _braces(f"no usable checkpoint in {out}: {listed}. ")
            + "Use {restart} ({elsewhere}, or delete the checkpoint files) to start over"
        )
    return None


def _braces(text: str) -> str:
    """``text`` with its braces doubled (a literal part of a `ResumeRefusedError` template)."""
    return text.replace("{", "{{").replace("}", "}}")


def _load_checkpoint(
    path: Path,
    state: Mapping[str, Any],
    config: TrainConfig,
    model: MultimodalModel,
    method: Method,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    precision: _Precision,
) -> list[dict[str, float]]:
    saved = {**_ADDED_FIELDS, **state["config"]}
    mine = config.to_dict()
    saved_epochs = saved.pop("epochs", None)
    mine.pop("epochs", None)
    if saved != mine:
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        raise ResumeRefusedError(
            _braces(f"{path} holds a run with a different configuration (differs in {diff}): ")
            + "use {elsewhere}, or {restart} to start over"
        )
    history = list(state["history"])
    if len(history) > config.epochs:
        raise ResumeRefusedError(
            _braces(
                f"{path.parent} holds a run with {len(history)} finished epochs, more than "
                f"epochs={config.epochs}: a run cannot be shortened (its model is the "
                f"{len(history)}-epoch one). Use epochs={len(history)} for the finished run, "
            )
            + "{elsewhere}, or {restart} to start over"
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
    precision.load_state_dict(state.get("precision"))  # absent from older checkpoints
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
_ADDED_FIELDS: dict[str, Any] = {
    "modality_dropout": 0.0,
    "valid_fraction": 0.0,
    "valid_seed": 0,
    "select_metric": "fusion_acc",
    "patience": None,
    "accumulate": 1,
    "precision": "fp32",
    "sync_batch_norm": True,
}


def _save_checkpoint(
    path: Path,
    config: TrainConfig,
    model: MultimodalModel,
    method: Method,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    history: list[dict[str, float]],
    selection: _Selection,
    precision: _Precision,
) -> None:
    state = {
        "config": config.to_dict(),
        "epoch": len(history),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": None if sched is None else sched.state_dict(),
        "method": _encode_state(method.state_dict()),
        "torch_rng": torch.get_rng_state(),
        "precision": precision.state_dict(),
        "history": history,
        # the selected epoch and, when it is not this one, its weights (so that the best
        # model so far survives a resume)
        "selection": {
            "epoch": selection.epoch,
            "model": None if selection.epoch == len(history) else selection.state,
        },
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    # the last checkpoint becomes the previous one (a kill between the two steps leaves the
    # previous one, which resuming reads when the last is missing)
    if path.exists():
        os.replace(path, path.with_name(PREVIOUS_CHECKPOINT))
    atomic_write_bytes(path, buf.getvalue())


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s ``state_dict`` on the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class _Selection:
    """Model selection on the validation metric ``val/<metric>``: the best epoch so far
    (0: none yet), its value and, when known, its weights (on the CPU)."""

    metric: str
    lower: bool
    epoch: int = 0
    value: float = math.nan
    state: dict[str, torch.Tensor] | None = None

    @classmethod
    def start(cls, config: TrainConfig) -> _Selection:
        return cls(config.select_metric, config.select_metric in LOWER_IS_BETTER)

    @property
    def key(self) -> str:
        return f"val/{self.metric}"

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far (strictly; NaN never does)."""
        if math.isnan(value):
            return False
        if self.epoch == 0 or math.isnan(self.value):
            return True
        return value < self.value if self.lower else value > self.value

    def update(self, record: Mapping[str, float], model: torch.nn.Module | None) -> bool:
        """Take ``record``'s epoch if it improves (its weights from ``model`` if given)."""
        value = record.get(self.key)
        if value is None or not self.improves(float(value)):
            return False
        self.epoch, self.value = int(record["epoch"]), float(value)
        self.state = None if model is None else _cpu_state(model)
        return True

    def since(self, done: int) -> int:
        """Epochs finished since the last improvement (all of them when there was none)."""
        return done - self.epoch

    @property
    def mode(self) -> str:
        return "min" if self.lower else "max"


def _stopped(selection: _Selection, config: TrainConfig, done: int, validated: bool) -> bool:
    """Early stopping: ``config.patience`` epochs without improvement."""
    return (
        validated
        and config.patience is not None
        and done > 0
        and selection.since(done) >= config.patience
    )


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


def _method_options(method: Method) -> dict[str, Any]:
    """The hyperparameters of a method object, as far as they can be read: a moo rule's
    `hyperparameters()`, else the constructor parameters kept as attributes of the same
    name; values that JSON cannot hold are left out."""
    rule = getattr(method, "rule", None)
    hyper = getattr(rule, "hyperparameters", None)
    if callable(hyper):
        found = dict(hyper())
    else:
        try:
            parameters = inspect.signature(type(method).__init__).parameters
        except (TypeError, ValueError):
            return {}
        found = {
            name: getattr(method, name)
            for name, p in parameters.items()
            if name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and hasattr(method, name)
        }
    kept: dict[str, Any] = {}
    for name, value in found.items():
        try:
            kept[name] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            continue
    return kept


def _named_method(config: TrainConfig) -> str:
    """The name of the method `make_method` builds from ``config`` (``rule@extraction``
    when the options give an extraction other than the default)."""
    extraction = config.method_options.get("extraction")
    if "@" in config.method or extraction in (None, "groups"):
        return config.method
    return f"{config.method}@{extraction}"


def _recorded_config(config: TrainConfig, method: Method, dataset: str | None) -> TrainConfig:
    """``config`` with the method and dataset that are trained: ``method.name`` (and the
    hyperparameters read from it) when the method object is not the one ``config`` names,
    and ``dataset`` (`CUSTOM_DATASET` for data given to `fit` without a name)."""
    changes: dict[str, Any] = {}
    if method.name != _named_method(config):
        changes["method"] = method.name
        changes["method_options"] = _method_options(method)
    name = CUSTOM_DATASET if dataset is None else dataset
    if name != config.dataset:
        changes["dataset"] = name
    return dataclasses.replace(config, **changes) if changes else config


def _describe(
    data: MultimodalDataset, valid: MultimodalDataset | None, test: MultimodalDataset
) -> str:
    parts = [f"train: {data!r}"]
    if valid is not None:
        parts.append(f"valid: {valid!r}")
    parts.append(f"test: {test!r}")
    return f"{CUSTOM_DATASET} data given to fit; " + "; ".join(parts)


def fit(
    model: MultimodalModel,
    method: Method,
    train_data: MultimodalDataset,
    test_data: MultimodalDataset,
    config: TrainConfig,
    *,
    valid_data: MultimodalDataset | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = False,
    tensorboard: bool = False,
    callback: Callable[[dict[str, float]], None] | None = None,
    data_description: str | None = None,
    dataset: str | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train ``model`` with ``method`` for ``config.epochs`` epochs (the optimizer, schedule,
    batch size, seed, device, validation and metrics options come from ``config``).

    **Validation and model selection.** The validation split is ``valid_data`` when given,
    else a seeded stratified hold-out of ``train_data`` (``config.valid_fraction`` of each
    class, drawn with ``config.valid_seed``; the rest is trained on), else none
    (``valid_fraction=0``). After each epoch it is scored (``val/<metric>`` keys) and the
    epoch with the best ``val/<config.select_metric>`` is selected (the first on ties); with
    ``config.patience`` the run stops when that many epochs passed without improvement. The
    test split is scored every epoch as well, so the selected epoch's record holds the
    selected model's test metrics and the last record the last epoch's; nothing is selected
    on the test split.

    Each epoch's record holds: ``epoch`` (finished epochs), ``lr``, ``train/fusion_loss``,
    ``train/loss/<m>`` (epoch means), ``weight/<name>`` (mean of the method's weights),
    ``step_ms`` (mean time of forward + method + optimizer step: host wall time on CPU, CUDA
    events on a GPU, read once per epoch so that the timing adds no synchronization), ``rule_us``
    (mean subroutine time), the test metrics of `moo_multimodal.metrics.evaluate`, the same
    on the validation split prefixed ``val/`` (when there is one) and, with
    ``config.probes``, ``probe/<m>``, ``worst_probe`` and ``probe_imbalance``; and
    ``data/unreadable``, the training clips found unreadable so far and replaced, when a
    dataset read with ``missing="skip"`` met one.

    **What is recorded.** ``config.json`` and the checkpoint hold ``config`` with the method
    and the data actually trained: ``method.name`` (and the hyperparameters read from the
    method object) when ``method`` is not the method ``config`` names, and ``dataset``
    (``"custom"`` when not given: data of your own; `train` passes ``config.dataset``).

    With ``output_dir``: ``data_description`` (what `train` passes: the loaded
    `DatasetSplits.description`, with the label order a published layout was read in;
    without it, the datasets' own descriptions) is written to ``dataset.txt``; the folder is
    locked for the whole call (`RunLock`; a second writer gets `RunLockedError`), temporary
    files of interrupted writes are removed, and with ``resume`` the run continues from the
    newest usable checkpoint (`CheckpointWarning` when the last one is damaged and the
    previous one is used), the best model so far included. Resuming with a larger
    ``config.epochs`` extends the run; a ``cosine`` schedule is then rebuilt as the longer
    run has it (the remaining epochs get the rates a fresh run of ``config.epochs`` epochs
    has at those epochs; the finished ones keep the rates they were trained with). At the
    end, ``results.json`` holds the selected and the last epoch's records and
    ``selected.pt`` the selected model's ``state_dict``.

    Args:
        valid_data: the validation split (a dataset's own); ``None``: held out of
            ``train_data`` as ``config`` says.
        dataset: the name the data are recorded under (see above).
        log: called with a line when the run resumes (from which epoch) or stops early.

    The other arguments are `train`'s.

    Raises:
        ValueError: the model's modalities or classes differ from the data's; a
            ``config.patience`` without a validation split; a hold-out that leaves no
            validation sample; non-finite losses or gradients (named by objective).
        ResumeRefusedError: (a ``ValueError``) a checkpoint with another configuration in
            ``output_dir``, or with more finished epochs than ``config.epochs``; a
            checkpoint holding pickled objects other than tensors and plain containers
            (refused, not run); no usable checkpoint where files exist.
        RunLockedError: another writer holds ``output_dir``.
        ImportError: ``progress`` without tqdm, ``tensorboard`` without tensorboard.
    """
    _check_modalities(model, train_data, "training")
    _check_modalities(model, test_data, "test")
    if valid_data is not None:
        _check_modalities(model, valid_data, "validation")
    config = _recorded_config(config, method, dataset)
    if valid_data is None and config.valid_fraction > 0:
        try:
            train_data, valid_data = holdout_split(
                train_data, config.valid_fraction, seed=config.valid_seed
            )
        except EmptyHoldoutError as exc:
            # a toy dataset (one sample per class): train on it all, select nothing
            warnings.warn(
                f"valid_fraction={config.valid_fraction:g}: {exc}; training without a "
                "validation split (the last epoch is the selected one)",
                UserWarning,
                stacklevel=2,
            )
    if config.patience is not None and valid_data is None:
        raise ValueError(
            f"patience={config.patience} (early stopping) needs a validation split: the data "
            "have none of their own and valid_fraction=0; set valid_fraction > 0"
        )
    if data_description is None:
        data_description = _describe(train_data, valid_data, test_data)
    out = None if output_dir is None else Path(output_dir)
    ranks = _distributed.current()
    with contextlib.ExitStack() as stack:
        if out is not None:
            folder, text = out, data_description.rstrip() + "\n"

            def take_folder() -> None:  # rank 0 alone writes the run folder
                stack.enter_context(RunLock(folder))
                _clean_temporary_files(folder)
                atomic_write_bytes(folder / "dataset.txt", text.encode())

            _distributed.on_main(ranks, take_folder)
        return _fit(
            model,
            method,
            _Data(train_data, valid_data, test_data),
            config,
            out,
            resume,
            progress,
            tensorboard,
            callback,
            log,
        )


@dataclass
class _Data:
    train: MultimodalDataset
    valid: MultimodalDataset | None
    test: MultimodalDataset


def _fit(
    model: MultimodalModel,
    method: Method,
    data: _Data,
    config: TrainConfig,
    out: Path | None,
    resume: bool,
    progress: bool,
    tensorboard: bool,
    callback: Callable[[dict[str, float]], None] | None,
    log: Callable[[str], None] | None,
) -> RunResult:
    """`fit`'s loop (rank 0 holding the run folder's lock when there is one)."""
    train_data, test_data = data.train, data.test
    ranks = _distributed.current()
    _check_step_options(method, config)
    device = torch.device(config.device)
    model.to(device)
    if ranks.distributed and config.sync_batch_norm:  # batch norm over the global batch
        _distributed.sync_batch_norm_(model, device)
    if ranks.distributed:  # the same start on every rank, whatever each one initialized
        _distributed.broadcast_module_(model)
    opt, sched = _make_optimizer(model, config)
    precision = _Precision(config, device)
    history: list[dict[str, float]] = []
    selection = _Selection.start(config)
    validated = data.valid is not None
    main = ranks.main
    if out is not None:
        folder = out
        found = _distributed.on_main(ranks, lambda: _find_checkpoint(folder) if resume else None)
        if ranks.distributed:  # every rank loads rank 0's checkpoint (no shared disk needed)
            found = _distributed.broadcast_object(found)
        if found is not None:
            path, state = found
            history = _load_checkpoint(path, state, config, model, method, opt, sched, precision)
            _restore_selection(selection, state, history)
            if log is not None and main:
                log(_resume_line(out, path, history, config, selection, validated))
        text = json.dumps(config.to_dict(), indent=2).encode()
        _distributed.on_main(ranks, lambda: atomic_write_bytes(folder / "config.json", text))
    resumed_from = len(history)
    stopped = _stopped(selection, config, len(history), validated)
    writer = _tensorboard(out) if tensorboard and main else None
    epochs = range(len(history), len(history) if stopped else config.epochs)
    bar: Any = epochs
    if progress and main:
        tqdm = require("tqdm", "progress=True", "progress").tqdm
        bar = tqdm(epochs, desc=f"{method.name} seed {config.seed}", leave=False)
    cuda = device.type == "cuda"
    dropout = (
        ModalityDropout.from_dataset(config.modality_dropout, train_data, config.eval_batch_size)
        if config.modality_dropout > 0
        else None
    )
    # the evaluation's input moments (noise scale, "absent" fill): the data do not change, so
    # one pass per run, not one per epoch
    size = config.eval_batch_size
    test_moments = input_moments(test_data, size) if len(epochs) else {}
    valid_moments = (
        input_moments(data.valid, size) if len(epochs) and data.valid is not None else {}
    )
    for epoch in bar:
        model.train()
        if ranks.distributed:
            # torch's global stream (dropout layers of one's own model): one per rank and epoch
            torch.manual_seed(_stream_seed(config.seed, epoch, f"rank {ranks.rank}"))
        sums: dict[str, float] = {}
        n_steps = 0
        # CUDA: step times from events read once per epoch (no synchronization per step)
        events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        # the dropout draws: a stream of their own (the batch order uses seed·1_000_003 + epoch)
        drops = torch.Generator().manual_seed(_stream_seed(config.seed, epoch, "modality_dropout"))
        for parts in _steps(train_data, config, epoch, ranks, dropout, drops, device):
            if cuda:
                events.append((_timing_event(), _timing_event()))
                events[-1][0].record()
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            reports = []
            for inputs, labels, weight in parts:
                with precision.autocast():
                    output = model(
                        inputs,
                        detach_unimodal=method.detach_unimodal,
                        detach_fusion=method.detach_fusion,
                    )
                output = precision.float_logits(output)
                with loss_weight(weight * precision.scale()):
                    reports.append(method.backward(model, output, labels, epoch=epoch))
            if ranks.distributed and not method.reduces_over_ranks:
                _distributed.average_gradients(model.parameters())
            precision.step(opt)
            if cuda:
                events[-1][1].record()
            step_time = time.perf_counter() - start
            row = _step_row(reports, precision.last_scale)
            row["step_ms"] = 1e3 * step_time
            for k, v in row.items():
                sums[k] = sums.get(k, 0.0) + v
            n_steps += 1
        if events:
            torch.cuda.synchronize(device)
            sums["step_ms"] = sum(a.elapsed_time(b) for a, b in events)  # milliseconds
        if ranks.distributed:
            sums = _average_over_ranks(sums, device)
            # batch-norm running statistics: rank 0's, as DistributedDataParallel keeps them
            _distributed.broadcast_buffers_(model)
        if sched is not None:
            sched.step()
        record: dict[str, float] = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"]}
        record.update({k: v / max(n_steps, 1) for k, v in sums.items()})
        record.update(_evaluate(model, test_data, config, ranks, device, test_moments))
        if data.valid is not None:
            scores = _evaluate(model, data.valid, config, ranks, device, valid_moments)
            if f"{selection.metric}" not in scores:
                raise ValueError(
                    f"select_metric {selection.metric!r} is not measured on these data; "
                    f"measured: {', '.join(scores)}"
                )
            record.update({f"val/{k}": v for k, v in scores.items()})
        probes = _probes(model, train_data, test_data, config, ranks) if config.probes else {}
        if probes:  # (under torchrun, rank 0 alone fits the probes; its record is broadcast)
            record.update(probes)
            accs = [probes[f"probe/{m}"] for m in model.modalities]
            record["worst_probe"] = min(accs)
            record["probe_imbalance"] = max(accs) / min(accs) if min(accs) > 0 else math.inf
        unreadable = len(getattr(train_data, "unreadable", ()))  # replaced (missing="skip")
        if unreadable:
            record["data/unreadable"] = unreadable
        if ranks.distributed:  # every rank decides (selection, early stop) on rank 0's record
            record = _distributed.broadcast_object(record)
        history.append(record)
        selection.update(record, model)
        if out is not None:
            _distributed.on_main(
                ranks,
                functools.partial(
                    _save, out, config, model, method, opt, sched, history, selection, precision
                ),
            )
        if writer is not None:
            for k, v in record.items():
                writer.add_scalar(k, v, epoch + 1)
            writer.flush()
        if callback is not None:
            callback(record)
        if _stopped(selection, config, len(history), validated):
            stopped = True
            if log is not None and main:
                log(
                    f"early stop after epoch {epoch + 1}: {selection.key} has not improved "
                    f"for {config.patience} epochs (best: epoch {selection.epoch}, "
                    f"{selection.value:.4g})"
                )
            break
    if writer is not None:
        writer.close()
    result = RunResult(
        history,
        model,
        method,
        out,
        selected_epoch=selection.epoch if validated and selection.epoch else len(history),
        selected_state=(
            selection.state if validated and selection.epoch not in (0, len(history)) else None
        ),
        stopped_early=stopped and len(history) < config.epochs,
        resumed_from=resumed_from,
        config=config,
    )
    if out is not None and history:
        folder = out
        _distributed.on_main(
            ranks, lambda: _write_results(folder, result, selection if validated else None)
        )
    return result


def _save(
    out: Path,
    config: TrainConfig,
    model: MultimodalModel,
    method: Method,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    history: list[dict[str, float]],
    selection: _Selection,
    precision: _Precision,
) -> None:
    """The epoch's logs and checkpoint (rank 0)."""
    _write_logs(out, history)
    _save_checkpoint(
        out / CHECKPOINT, config, model, method, opt, sched, history, selection, precision
    )


def _check_step_options(method: Method, config: TrainConfig) -> None:
    """Refuse ``accumulate > 1`` and ``fp16`` for methods where they are not exact."""
    if config.accumulate > 1 and not method.accumulates:
        raise ValueError(
            f"accumulate={config.accumulate}: method {method.name!r} chooses its weights from "
            "each batch's losses or gradients, so accumulating micro-batches would not equal "
            "the larger batch; use accumulate=1 with a larger batch_size (or several "
            "processes), or a method with fixed weights (joint, uniform, unimodal)"
        )
    if config.precision == "fp16" and not method.accumulates:
        raise ValueError(
            f"precision='fp16': method {method.name!r} chooses its weights from the losses or "
            "gradients, whose scale the fp16 loss scaling changes; use precision='bf16' (no "
            "loss scaling needed) or 'fp32'"
        )


class _Precision:
    """Mixed precision of a run: autocast of the forward pass and, for fp16, loss scaling."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
        self.device = device
        self.scaler = torch.amp.GradScaler(device.type) if config.precision == "fp16" else None
        self.last_scale = 1.0

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def float_logits(self, output: Any) -> Any:
        """``output`` with its logits in float32 (the losses are taken in float32)."""
        if self.dtype is None:
            return output
        return dataclasses.replace(
            output,
            fusion=output.fusion.float(),
            unimodal={m: v.float() for m, v in output.unimodal.items()},
        )

    def scale(self) -> float:
        """The loss scale of this step (1 without fp16)."""
        if self.scaler is None:
            return 1.0
        # initializes the scaler's scale on the device (GradScaler.step needs it)
        self.scaler.scale(torch.ones((), device=self.device))
        self.last_scale = float(self.scaler.get_scale())
        return self.last_scale

    def step(self, opt: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            opt.step()
            return
        self.scaler.step(opt)  # unscales, skips the step on inf/NaN gradients
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The loss scaler's state (scale, growth tracker), ``None`` without fp16."""
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        """Restore `state_dict`'s state (``None``, from a run without fp16 or from a
        checkpoint written before the scaler was saved: the scaler keeps its start)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(dict(state))


def _step_row(reports: list[Any], scale: float) -> dict[str, float]:
    """One step's logged numbers from its parts' reports: the losses summed (each part's
    loss carries its share of the step, `loss_weight`) and divided by the fp16 loss scale,
    the weights averaged, the subroutine times summed."""
    row: dict[str, float] = {}
    weights: dict[str, float] = {}
    for rep in reports:
        for k, v in (
            ("train/fusion_loss", rep.fusion_loss),
            *((f"train/loss/{m}", u) for m, u in rep.unimodal_losses.items()),
        ):
            row[k] = row.get(k, 0.0) + v / scale
        for k, v in rep.weights.items():
            weights[f"weight/{k}"] = weights.get(f"weight/{k}", 0.0) + v / len(reports)
        row["rule_us"] = row.get("rule_us", 0.0) + 1e6 * rep.rule_time
    row.update(weights)
    return row


def _evaluate(
    model: MultimodalModel,
    data: MultimodalDataset,
    config: TrainConfig,
    ranks: _distributed.Ranks,
    device: torch.device,
    moments: Moments,
) -> dict[str, float]:
    """`moo_multimodal.metrics.evaluate` on ``data`` given its input moments (computed once
    per run); under torchrun each rank evaluates its share of every batch and one all-reduce
    adds up the sums (the same metrics)."""
    sums = evaluation_sums(
        model,
        data,
        batch_size=config.eval_batch_size,
        noise_std=config.noise_std,
        seed=config.seed,
        rank=ranks.rank,
        world_size=ranks.world_size,
        moments=moments,
    )
    if ranks.distributed:
        sums.values = _distributed.all_reduce_sum_(sums.values.to(_collective_device(device)))
    return sums.metrics()


def _probes(
    model: MultimodalModel,
    train_data: MultimodalDataset,
    test_data: MultimodalDataset,
    config: TrainConfig,
    ranks: _distributed.Ranks,
) -> dict[str, float]:
    """`moo_multimodal.metrics.linear_probe`; under torchrun each rank encodes its share of
    every batch, rank 0 gathers the features and fits the probes (the other ranks return
    ``{}``: rank 0's record is broadcast)."""
    size = config.eval_batch_size
    if not ranks.distributed:
        return linear_probe(model, train_data, test_data, seed=config.seed, batch_size=size)
    shares = [
        probe_features(model, d, batch_size=size, rank=ranks.rank, world_size=ranks.world_size)
        for d in (train_data, test_data)
    ]
    gathered = _distributed.gather_object(shares)
    if gathered is None:
        return {}
    train, test = (ProbeFeatures.merge([g[i] for g in gathered]) for i in (0, 1))
    return fit_probes(train, test, train_data.num_classes)


def _collective_device(device: torch.device) -> torch.device:
    """Where the trainer's own collectives run: the CUDA device under nccl, else the CPU
    (gloo)."""
    return device if device.type == "cuda" else torch.device("cpu")


def _average_over_ranks(sums: dict[str, float], device: torch.device) -> dict[str, float]:
    """The epoch's sums averaged over the ranks (one collective; every rank has the same keys,
    inserted in the same order: the same method's reports)."""
    keys = list(sums)
    values = torch.tensor(
        [sums[k] for k in keys], dtype=torch.float64, device=_collective_device(device)
    )
    _distributed.all_reduce_mean_([values])
    return dict(zip(keys, values.cpu().tolist(), strict=True))


_Part = tuple[dict[str, torch.Tensor], torch.Tensor, float]


def _steps(
    data: MultimodalDataset,
    config: TrainConfig,
    epoch: int,
    ranks: _distributed.Ranks,
    dropout: ModalityDropout | None,
    drops: torch.Generator,
    device: torch.device,
) -> Iterator[list[_Part]]:
    """One epoch's optimizer steps, each a list of ``(inputs, labels, loss weight)`` parts on
    ``device``: this rank's shards of the step's ``accumulate`` batches.

    The order is `iterate_batches`'s (``seed·1_000_003 + epoch``) on every rank; a step covers
    ``accumulate`` consecutive batches of ``batch_size`` samples; each batch is cut into
    ``world_size`` contiguous shards (`_distributed.shard_bounds`) and this rank takes its
    own. A part of ``n`` samples in a step of ``N`` gets the loss weight
    ``world_size · n / N`` (`loss_weight`), so that the ranks' average and the parts' sum
    are the mean over the step. The epoch's last batch is dropped when it holds fewer samples
    than there are processes (some rank would get none). The modality-dropout draws are made
    for the whole step's batch, then sliced, so they do not depend on the split either.
    """
    if not ranks.distributed and config.accumulate == 1:  # one process: the plain batches
        for inputs, labels in iterate_batches(
            data, config.batch_size, shuffle=True, seed=config.seed * 1_000_003 + epoch
        ):
            inputs, labels = _to(inputs, device), labels.to(device, non_blocking=True)
            if dropout is not None:
                inputs = dropout(inputs, drops)
            yield [(inputs, labels, 1.0)]
        return
    n = len(data)
    order = torch.randperm(
        n, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    )
    size, world = config.batch_size, ranks.world_size
    tail = n % size
    if 0 < tail < world:
        n -= tail
    span = size * config.accumulate
    plan: list[list[tuple[torch.Tensor, float, int, int]]] = []
    totals: list[int] = []
    for start in range(0, n, span):
        stop = min(start + span, n)
        total = stop - start
        parts = []
        for first in range(start, stop, size):
            lo, hi = _distributed.shard_bounds(min(first + size, stop) - first, ranks.rank, world)
            parts.append(
                (
                    order[first + lo : first + hi],
                    world * (hi - lo) / total,
                    first - start + lo,
                    first - start + hi,
                )
            )
        plan.append(parts)
        totals.append(total)
    fetched = _fetch(data, [idx for parts in plan for idx, _, _, _ in parts])
    for parts, total in zip(plan, totals, strict=True):
        draws = _dropout_draws(dropout, total, drops)
        step: list[_Part] = []
        for _, weight, lo, hi in parts:
            inputs, labels = next(fetched)
            if dropout is not None and draws is not None:
                inputs = _apply_dropout(dropout, inputs, draws[0][lo:hi], draws[1][lo:hi])
            step.append((_to(inputs, device), labels.to(device, non_blocking=True), weight))
        yield step


def _fetch(
    data: MultimodalDataset, indices: list[torch.Tensor]
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """The samples of each index list in turn (by slicing a `TensorDataset`, else through a
    `DataLoader` in the main process, as `iterate_batches` reads them)."""
    if isinstance(data, TensorDataset):
        for idx in indices:
            yield {m: x[idx] for m, x in data.inputs.items()}, data.labels[idx]
        return
    loader = DataLoader(data, batch_sampler=[idx.tolist() for idx in indices])
    for inputs, labels in loader:
        yield dict(inputs), torch.as_tensor(labels, dtype=torch.int64)


def _dropout_draws(
    dropout: ModalityDropout | None, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`ModalityDropout`'s draws for a batch of ``n`` samples (the same calls, in its order)."""
    if dropout is None or dropout.p == 0.0:
        return None
    drop = torch.rand(n, generator=generator) < dropout.p
    which = torch.randint(len(dropout.modalities), (n,), generator=generator)
    return drop, which


def _apply_dropout(
    dropout: ModalityDropout,
    inputs: Mapping[str, torch.Tensor],
    drop: torch.Tensor,
    which: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """`ModalityDropout.__call__` with draws made for a larger batch and sliced to this part."""
    out = dict(inputs)
    n = drop.shape[0]
    for j, m in enumerate(dropout.modalities):
        x = inputs[m]
        mask = (drop & (which == j)).reshape(n, *([1] * (x.ndim - 1)))
        out[m] = torch.where(mask, dropout.fill[m].to(device=x.device, dtype=x.dtype), x)
    return out


def _restore_selection(
    selection: _Selection, state: Mapping[str, Any], history: list[dict[str, float]]
) -> None:
    """The best epoch so far and its weights, from a checkpoint (older checkpoints hold no
    weights: the best epoch is found from the history, its weights are known only when it
    is the checkpoint's own epoch)."""
    for record in history:
        selection.update(record, None)
    saved = state.get("selection")
    if selection.epoch == 0:
        return
    if selection.epoch == len(history):
        selection.state = {k: v.detach().clone() for k, v in state["model"].items()}
    elif isinstance(saved, Mapping) and saved.get("epoch") == selection.epoch:
        selection.state = saved.get("model")


def _resume_line(
    out: Path,
    path: Path,
    history: list[dict[str, float]],
    config: TrainConfig,
    selection: _Selection,
    validated: bool,
) -> str:
    done = len(history)
    if _stopped(selection, config, done, validated):
        return (
            f"{out}: the run stopped early after epoch {done} (best: epoch {selection.epoch}); "
            "nothing left to train"
        )
    if done >= config.epochs:
        return f"{out}: the run is complete ({done} epochs); nothing left to train"
    return (
        f"resuming {out} from epoch {done} of {config.epochs} ({path.name}): training epochs "
        f"{done + 1} to {config.epochs}"
    )


def _write_results(out: Path, result: RunResult, selection: _Selection | None) -> None:
    """``results.json`` (the selected and the last epoch's records) and ``selected.pt`` (the
    selected model's ``state_dict``), both atomically."""
    payload = {
        "select_metric": None if selection is None else selection.key,
        "mode": None if selection is None else selection.mode,
        "selected_epoch": result.selected_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "selected": result.selected,
        "last": result.final,
    }
    atomic_write_bytes(out / RESULTS, json.dumps(payload, indent=1).encode())
    state = result.selected_state
    if state is None:
        state = _cpu_state(result.model)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(out / SELECTED_MODEL, buf.getvalue())


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
