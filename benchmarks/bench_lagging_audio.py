"""av-digits with babble: the variant where joint training leaves the audio encoder behind.

The data (`moo_multimodal.data.av_digits`): undegraded 28×28 digits (``pca_energy_removed=0``:
the image is the fast, strong modality) paired with spoken digits mixed with babble, the sum of
4 other utterances of the same split spoken by its other voices, 6 dB below the speech
(``babble_snr_db=6``, no white noise: ``snr_db=None``); held-out test voices. CNN encoders
(16, 32, 64 channels), concat fusion, Adam 1e-3, batch 16, 10 epochs, the default 10 %
validation hold-out, one thread per run. The same runs from the command line:

    moo-mm compare --dataset av-digits --data pca_energy_removed=0 --data snr_db=None \\
        --data babble_snr_db=6 --batch-size 16 --epochs 10 --threads 1 --seeds 5 \\
        --methods joint,uniform,unimodal,mimo,mgda,cagrad,nash-mtl,ogm-ge,mmpareto,headroom \\
        --out runs/av-digits-babble

This script trains them ``--jobs`` at a time into the same folder layout
(``OUT/<method>/seed-<s>``, so a ``moo-mm compare`` folder is reused as it is, and finished
runs are never retrained), then prints, and writes to ``--md``, the last epoch's test metrics
(mean ± std over seeds), each method's audio probe minus joint training's on the same seed
(paired), the audio probe relative to the ``unimodal`` run's (the audio encoder trained on
its own loss: "alone"), and writes ``--plot``: the audio probe per epoch.

    python benchmarks/bench_lagging_audio.py --seeds 5 --jobs 2 --out runs/av-digits-babble \\
        --md benchmarks/results-lagging-audio.md --plot docs/img/av-digits-babble-audio-probe.png

Calibration (seed 0, 10 epochs, batch 16, joint against unimodal, last epoch's audio probe):
white noise at -10 dB, 62.5 against 67.3 % (both flat after epoch 2: the noise caps what the
audio can reach); babble at 0 dB, 39 against 40 % (too hard to learn at this budget); babble at
6 dB, 69.4 against 75.1 % (alone still rising at epoch 10); at 12 dB, 79.4 against 84.6 %;
6 dB with half the images' PCA energy removed: no gap by epoch 5. A logistic regression on the
raw standardized inputs (scikit-learn, C = 0.1) at 6 dB: image 96.5 %, audio 51.9 %, both
96.1 %: the babble needs learnt features, which is what makes the audio slow.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from moo_multimodal import TrainConfig, train
from moo_multimodal.compare import METHODS_DEFAULT
from moo_multimodal.data import load_dataset

# compare's defaults, then the "alone" reference and this project's method
METHODS = (*METHODS_DEFAULT, "unimodal", "headroom")
DATA: dict[str, Any] = {"pca_energy_removed": 0.0, "snr_db": None, "babble_snr_db": 6.0}
COLUMNS = (
    ("fusion", "fusion_acc"),
    ("probe image", "probe/image"),
    ("probe audio", "probe/audio"),
    ("head image", "acc/image"),
    ("head audio", "acc/audio"),
    ("image absent", "absent/image"),
    ("audio absent", "absent/audio"),
)


def config(method: str, seed: int, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        dataset="av-digits",
        root=args.root,
        dataset_options=dict(DATA),
        method=method,
        seed=seed,
        epochs=args.epochs,
        batch_size=16,
    )


def run(method: str, seed: int, args: argparse.Namespace) -> list[dict[str, float]]:
    """One run (resumed, or nothing left to do, when its folder holds it); its history."""
    torch.set_num_threads(1)
    out = Path(args.out) / method / f"seed-{seed}"
    train(config(method, seed, args), output_dir=out)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def report(histories: dict[str, list[list[dict[str, float]]]], seeds: list[int]) -> str:
    last = {m: [h[-1] for h in hs] for m, hs in histories.items()}
    alone = statistics.mean(r["probe/audio"] for r in last["unimodal"])
    joint = [r["probe/audio"] for r in last["joint"]]
    head = ["method", *(c for c, _ in COLUMNS), "audio probe − joint (paired)", "audio / alone"]
    lines = [
        f"Last epoch's test metrics in %, mean ± std over seeds {seeds}; *alone*: the mean "
        f"audio probe of the `unimodal` runs ({100 * alone:.1f} %); *image absent*, *audio "
        "absent*: fusion accuracy with that input replaced by its test mean.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for method, rows in last.items():
        audio = [r["probe/audio"] for r in rows]
        gains = [a - j for a, j in zip(audio, joint, strict=True)]
        wins = sum(g > 0 for g in gains)
        paired = "–" if method == "joint" else f"{mean_std(gains)} ({wins}/{len(gains)} > 0)"
        cells = [mean_std([r[key] for r in rows]) for _, key in COLUMNS]
        ratio = mean_std([a / alone for a in audio])
        lines.append(f"| {method} | " + " | ".join([*cells, paired, ratio]) + " |")
    return "\n".join(lines) + "\n"


def plot(histories: dict[str, list[list[dict[str, float]]]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for method, hs in histories.items():
        n = min(len(h) for h in hs)
        xs = [int(hs[0][i]["epoch"]) for i in range(n)]
        ys = [100 * statistics.mean(h[i]["probe/audio"] for h in hs) for i in range(n)]
        style = "-" if method in ("joint", "unimodal", "ogm-ge") else ":"
        ax.plot(xs, ys, style, marker="o", markersize=3, label=method)
    ax.set_xlabel("epoch")
    ax.set_ylabel("audio probe, test accuracy (%)")
    ax.set_title("av-digits with babble (6 dB): the audio encoder's linear probe")
    ax.legend(fontsize=7, ncols=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--root", default=None, help="the av-digits cache folder")
    parser.add_argument("--out", default="runs/av-digits-babble")
    parser.add_argument("--md", default=None, help="also write the report here")
    parser.add_argument("--plot", default=None, help="write the audio-probe plot here (PNG)")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    missing = {"joint", "unimodal"} - set(methods)
    if missing:
        parser.error(f"--methods must include {sorted(missing)} (the references)")
    seeds = list(range(args.seeds))
    load_dataset("av-digits", root=args.root, **DATA)  # build the cache once, up front
    jobs: dict[tuple[str, int], Any] = {}
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        for method in methods:
            for seed in seeds:
                jobs[method, seed] = pool.submit(run, method, seed, args)
        histories = {m: [jobs[m, s].result() for s in seeds] for m in methods}
    text = report(histories, seeds)
    print(text)
    if args.md:
        title = "# Results: av-digits with babble, the audio encoder left behind (issue 17)\n\n"
        source = "Generated by `benchmarks/bench_lagging_audio.py`.\n\n"
        Path(args.md).write_text(title + source + text)
    if args.plot:
        plot(histories, Path(args.plot))


if __name__ == "__main__":
    main()
