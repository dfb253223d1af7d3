"""Compare methods over seeds: a markdown table (mean ± std) and plots.

`compare` trains every ``method × seed`` run of one base configuration, each in its own folder
``output_dir/<method>/seed-<s>`` (so an interrupted comparison resumes run by run, and epoch by
epoch inside a run), then writes

- ``results.md``: two tables, one row per method, mean ± std over seeds: the test metrics
  of each run's *selected* checkpoint (the epoch with the best validation metric,
  ``TrainConfig.select_metric``; the mean selected epoch in the ``epoch`` column), then
  those of the *last* epoch;
- ``results.json``: every run's selected and last records;
- ``accuracy.png``: per-modality accuracy over epochs (linear probes if computed, else the
  uni-modal heads), one panel per modality, one line per method (mean over seeds), plus
  fusion accuracy;
- ``weights.png``: each method's weights over epochs (methods that choose weights);
- ``robustness.png``: fusion accuracy of the selected checkpoints with each sensor dropped
  (zeros), absent (its mean input) or noised, per method.

Step times: before the first run, every method trains ``warmup_steps`` untimed steps on a
throwaway model (`moo_multimodal.training.warm_up`), so that the process's one-time costs
(allocator, thread pools, lazy initialization) are not charged to whichever method runs
first and the ``step / joint`` column does not depend on the order of the methods.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from moo.io import atomic_write_bytes
from moo.plotting import save_figure
from moo.validation import check_int, require
from moo_multimodal.data import DatasetSplits, load_dataset
from moo_multimodal.methods import make_method
from moo_multimodal.training import RunLock, RunResult, TrainConfig, train, warm_up

METHODS_DEFAULT: tuple[str, ...] = (
    "joint",
    "uniform",
    "mimo",
    "mgda",
    "cagrad",
    "nash-mtl",
    "ogm-ge",
    "mmpareto",
)


@dataclass
class Comparison:
    """What `compare` produced.

    Attributes:
        table: the markdown tables (also in ``results.md``): selected checkpoints, then
            last epochs.
        runs: the last epoch's records by method, one per seed.
        histories: per-epoch records by method, one list per seed.
        files: paths of the written files (table, json, plots), by name.
        selected: the selected epoch's records by method, one per seed (the epoch with the
            best validation metric; the last epoch without a validation split).
    """

    table: str
    runs: dict[str, list[dict[str, float]]]
    histories: dict[str, list[list[dict[str, float]]]]
    files: dict[str, Path]
    selected: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var)


def _columns(modalities: Sequence[str], has_probes: bool) -> list[tuple[str, str, float]]:
    """(record key, header, display scale) of the table's columns."""
    cols = [("fusion_acc", "fusion acc", 100.0), ("fusion_f1", "macro-F1", 100.0)]
    if has_probes:
        cols += [(f"probe/{m}", f"probe {m}", 100.0) for m in modalities]
        cols += [("worst_probe", "worst probe", 100.0)]
    cols += [(f"acc/{m}", f"head {m}", 100.0) for m in modalities]
    cols += [("worst_acc", "worst head", 100.0)]
    cols += [
        ("worst_drop", "worst drop", 100.0),
        ("worst_absent", "worst absent", 100.0),
        ("worst_noise", "worst noise", 100.0),
    ]
    cols += [("step_ms", "step ms", 1.0), ("rule_us", "rule µs", 1.0)]
    return cols


def format_table(
    runs: dict[str, list[dict[str, float]]],
    modalities: Sequence[str],
    *,
    reference: str = "joint",
    epoch: bool = False,
) -> str:
    """The markdown table of one record per run: accuracies in %, mean ± std over seeds, and
    the step time relative to ``reference`` (when it was run); with ``epoch``, the records'
    epoch (e.g. the selected one) as a column."""
    has_probes = any("worst_probe" in r for rs in runs.values() for r in rs)
    cols = _columns(modalities, has_probes)
    if epoch:
        cols.insert(0, ("epoch", "epoch", 1.0))
    ref = runs.get(reference)
    ref_step = _mean_std([r["step_ms"] for r in ref])[0] if ref else None
    header = ["method", "seeds", *(h for _, h, _ in cols)]
    if ref_step:
        header.append(f"step / {reference}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, records in runs.items():
        cells = [method, str(len(records))]
        for key, _, scale in cols:
            vals = [r[key] * scale for r in records if key in r]
            if not vals:
                cells.append("–")
                continue
            mean, std = _mean_std(vals)
            digits = 1 if scale == 100.0 or key in ("rule_us", "epoch") else 2
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        if ref_step:
            mean_step = _mean_std([r["step_ms"] for r in records])[0]
            cells.append(f"{mean_step / ref_step:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(
    methods: Sequence[str] = METHODS_DEFAULT,
    seeds: Sequence[int] = (0, 1, 2),
    base: TrainConfig | None = None,
    *,
    output_dir: str | os.PathLike[str],
    method_options: dict[str, dict[str, Any]] | None = None,
    plots: bool = True,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    resume: bool = True,
    warmup_steps: int = 3,
) -> Comparison:
    """Train each method with each seed from ``base`` and tabulate the final test metrics.

    Args:
        methods: method names (``moo-mm methods``, and those registered with
            `moo_multimodal.methods.register_method`); at least one, no duplicates.
        seeds: training seeds (initialization, batch order, the methods' own randomness:
            see `TrainConfig`); the data stay fixed.
        base: the shared configuration (its ``method`` and ``seed`` are replaced per run).
        output_dir: where runs, table and plots go; finished runs found there are reused.
        method_options: hyperparameters per method name (override ``base.method_options``).
        plots: write the PNG plots (needs matplotlib).
        progress: progress bars per run.
        log: called with one line per finished run (e.g. ``print``), and with the runs'
            resume and early-stop lines.
        resume: reuse the runs found in ``output_dir`` (``False``: train every run anew).
        warmup_steps: untimed training steps of every method, on a throwaway model, before
            the first run (see the module's docstring); 0: none.

    The folder is locked for the whole comparison (`moo_multimodal.training.RunLock`): a
    second comparison into it gets `moo_multimodal.training.RunLockedError`.

    Raises:
        ValueError: before anything is trained or loaded: an unknown method name, or a method
            whose hyperparameters its constructor refuses (every method is built once, with
            every seed's configuration checked, before the first run starts).
    """
    methods = list(methods)
    if not methods:
        raise ValueError("methods must name at least one method, got an empty list")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods has duplicates: {methods}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got an empty list")
    base = base or TrainConfig()
    options = method_options or {}
    warmup_steps = check_int(warmup_steps, "warmup_steps", low=0)
    out = Path(output_dir)
    # every run's configuration and method, checked before anything is trained
    configs = {
        method: [
            replace(
                base,
                method=method,
                seed=seed,
                method_options=dict(
                    options.get(method, base.method_options if method == base.method else {})
                ),
            )
            for seed in seeds
        ]
        for method in methods
    }
    for method_configs in configs.values():
        for config in method_configs:
            make_method(config.method, run_seed=config.seed, **config.method_options)
    with RunLock(out):  # one comparison per folder (each run also locks its own)
        splits = load_dataset(base.dataset, root=base.root, **base.dataset_options)
        for method in methods:  # every method warms up before any run is timed
            warm_up(configs[method][0], splits, warmup_steps)
        return _compare(methods, seeds, base, configs, splits, out, plots, progress, log, resume)


def _compare(
    methods: list[str],
    seeds: list[int],
    base: TrainConfig,
    configs: dict[str, list[TrainConfig]],
    splits: DatasetSplits,
    out: Path,
    plots: bool,
    progress: bool,
    log: Callable[[str], None] | None,
    resume: bool,
) -> Comparison:
    runs: dict[str, list[dict[str, float]]] = {}
    selected: dict[str, list[dict[str, float]]] = {}
    histories: dict[str, list[list[dict[str, float]]]] = {}
    for method in methods:
        for seed, config in zip(seeds, configs[method], strict=True):
            result: RunResult = train(
                config,
                output_dir=out / method / f"seed-{seed}",
                splits=splits,
                progress=progress,
                resume=resume,
                log=log,
            )
            runs.setdefault(method, []).append(result.final)
            selected.setdefault(method, []).append(result.selected)
            histories.setdefault(method, []).append(result.history)
            if log is not None:
                f = result.selected
                log(
                    f"{method:>9} seed {seed}: selected epoch {result.selected_epoch} of "
                    f"{len(result.history)}: fusion acc {100 * f['fusion_acc']:.1f}%, "
                    f"worst head {100 * f['worst_acc']:.1f}%, step "
                    f"{result.final['step_ms']:.2f} ms"
                )
    modalities = list(splits.train.modalities)
    metric = f"val/{base.select_metric}"
    chosen = (
        f"the epoch with the best validation {base.select_metric}"
        if any(metric in r for rs in selected.values() for r in rs)
        else "no validation split: the last epoch"
    )
    table = (
        f"## Selected checkpoints ({chosen})\n\n"
        + format_table(selected, modalities, epoch=True)
        + "\n## Last epoch\n\n"
        + format_table(runs, modalities)
    )
    files = {"table": out / "results.md", "json": out / "results.json"}
    atomic_write_bytes(files["table"], table.encode())
    payload = {
        "methods": methods,
        "seeds": seeds,
        "base": base.to_dict(),
        "selected": selected,
        "runs": runs,
    }
    atomic_write_bytes(files["json"], json.dumps(payload, indent=1).encode())
    if plots:
        files.update(_plots(histories, selected, modalities, out))
    return Comparison(table, runs, histories, files, selected)


def _mean_curve(histories: list[list[dict[str, float]]], key: str) -> tuple[list[int], list[float]]:
    n = min(len(h) for h in histories)
    xs = [int(histories[0][i]["epoch"]) for i in range(n)]
    ys = [sum(h[i].get(key, math.nan) for h in histories) / len(histories) for i in range(n)]
    return xs, ys


def _plots(
    histories: dict[str, list[list[dict[str, float]]]],
    selected: dict[str, list[dict[str, float]]],
    modalities: list[str],
    out: Path,
) -> dict[str, Path]:
    Figure = require("matplotlib.figure", "plots", "plot").Figure
    integer_ticks = require("matplotlib.ticker", "plots", "plot").MaxNLocator
    files: dict[str, Path] = {}
    first = next(iter(histories.values()))[0][-1]
    prefix = "probe/" if f"probe/{modalities[0]}" in first else "acc/"
    panels = [("fusion_acc", "fusion")] + [(f"{prefix}{m}", m) for m in modalities]
    fig = Figure(figsize=(4 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        for method, hs in histories.items():
            xs, ys = _mean_curve(hs, key)
            ax.plot(xs, ys, marker="o", markersize=3, label=method)
        ax.set_title(
            f"{title} ({'probe' if prefix == 'probe/' and key != 'fusion_acc' else 'test'} acc)"
        )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(integer_ticks(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=7)
    files["accuracy"] = save_figure(fig, out / "accuracy.png")

    weighted = {
        m: hs for m, hs in histories.items() if any(k.startswith("weight/") for k in hs[0][-1])
    }
    if weighted:
        fig = Figure(figsize=(3.6 * len(weighted), 3.2), layout="constrained")
        axes = fig.subplots(1, len(weighted), squeeze=False)
        for ax, (method, hs) in zip(axes[0], weighted.items(), strict=True):
            keys = [k for k in hs[0][-1] if k.startswith("weight/")]
            for key in keys:
                xs, ys = _mean_curve(hs, key)
                ax.plot(xs, ys, marker="o", markersize=3, label=key.removeprefix("weight/"))
            ax.set_title(method)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(integer_ticks(integer=True))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel("mean weight over the epoch")
        files["weights"] = save_figure(fig, out / "weights.png")

    methods = list(histories)
    # the perturbations the metrics report (noise and absent exist for float inputs only)
    final = selected[methods[0]][0]
    bars = [f"{k}/{m}" for k in ("drop", "absent", "noise") for m in modalities]
    bars = [key for key in bars if key in final]
    fig = Figure(figsize=(max(6.0, 1.2 * len(methods) * len(bars) / 3), 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(bars)
    for j, key in enumerate(bars):
        vals = [sum(r[key] for r in selected[m]) / len(selected[m]) for m in methods]
        ax.bar([i + j * width for i in range(len(methods))], vals, width, label=key)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(methods))], methods, rotation=20)
    ax.set_ylabel("fusion accuracy")
    ax.set_title("robustness (selected checkpoints): one sensor dropped, absent or noised")
    # the legend outside the axes, right of them: it never covers a bar
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(axis="y", alpha=0.3)
    files["robustness"] = save_figure(fig, out / "robustness.png")
    return files
