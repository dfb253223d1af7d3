"""MultiBench's AV-MNIST (``"av-mnist"``), read from the layout of its reference code.

Nothing is downloaded: the data are read from ``root``, laid out as the reference code expects
(``moo-mm datasets`` prints the layout; `AVMNIST_LAYOUT` holds it). The loader checks its files
when it is called: the arrays are read whole, and the first missing or malformed file fails with
its path and what was expected.

MultiBench (P. P. Liang et al., "MultiBench: Multiscale Benchmarks for Multimodal
Representation Learning", NeurIPS 2021 Datasets and Benchmarks; github.com/pliang279/
MultiBench), an in-memory `TensorDataset` subclass:

- ``"av-mnist"`` (`AVMNIST`): AV-MNIST (V. Vielzeuf, A. Lechervy, S. Pateux and F. Jurie,
  "CentralNet: a Multilayer Approach for Multimodal Fusion", ECCV Workshops 2018), 10 digits;
  ``datasets/avmnist/get_data.py``: ``image/{train,test}_data.npy`` (28 x 28 digits),
  ``audio/{train,test}_data.npy`` (112 x 112 spectrograms), ``{train,test}_labels.npy``, both
  divided by 255; the last 5000 training samples are the validation split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from moo.validation import check_bool, check_choice, check_int
from moo_multimodal.data._dataset import DatasetSplits, TensorDataset
from moo_multimodal.data._files import load_npy
from moo_multimodal.data._registry import register_dataset, require_root

__all__ = ["AVMNIST", "AVMNIST_LAYOUT"]

AVMNIST_LAYOUT = """\
<root>/  (MultiBench, datasets/avmnist/get_data.py)
    image/train_data.npy, image/test_data.npy   (N, 784) or (N, 28, 28) digit images, 0..255
    audio/train_data.npy, audio/test_data.npy   (N, 112, 112) spectrograms, 0..255
    train_labels.npy, test_labels.npy           (N,) digit labels 0..9
  (60000 train, the last 5000 of them the validation split, and 10000 test samples)"""


class AVMNIST(TensorDataset):
    """An AV-MNIST split in memory: ``image`` ``(1, 28, 28)`` and ``audio`` ``(1, 112, 112)``
    float32 (divided by 255 when ``normalize``, as MultiBench's defaults), labels 0..9.

    Args:
        root: the AV-MNIST folder (`AVMNIST_LAYOUT`).
        split: ``"train"`` (the training file's first ``N - n_valid`` samples), ``"valid"``
            (its last ``n_valid``) or ``"test"``.
        normalize: divide both modalities by 255.
        n_valid: samples held out of the training file as the validation split (MultiBench:
            5000); 0 trains on all of them.

    Raises:
        FileNotFoundError: a missing file (the message names it).
        ValueError: a bad argument or a malformed file (wrong size per sample, mismatched
            sample counts, labels outside 0..9; the message names the file).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        normalize: bool = True,
        n_valid: int = 5000,
    ) -> None:
        name = "av-mnist"
        check_choice(split, "split", ("train", "valid", "test"))
        check_bool(normalize, "normalize")
        n_valid = check_int(n_valid, "n_valid", low=0)
        base = Path(root)
        part = "test" if split == "test" else "train"
        files = {
            "image": base / "image" / f"{part}_data.npy",
            "audio": base / "audio" / f"{part}_data.npy",
            "labels": base / f"{part}_labels.npy",
        }
        arrays = {key: load_npy(path, name) for key, path in files.items()}
        n = arrays["labels"].shape[0] if arrays["labels"].ndim >= 1 else 0
        sizes = {"image": (28, 28), "audio": (112, 112)}
        for key, array in arrays.items():
            per = int(np.prod(array.shape[1:])) if array.ndim >= 1 else 0
            expected = 1 if key == "labels" else sizes[key][0] * sizes[key][1]
            if array.ndim < 1 or array.shape[0] != n or per != expected:
                shape = "(N,)" if key == "labels" else f"(N, {sizes[key][0]}, {sizes[key][1]})"
                raise ValueError(
                    f"dataset {name!r}: {str(files[key])!r} has shape {array.shape}; expected "
                    f"{shape} with N = {n} (the labels' count)"
                )
        if split == "test":
            rows = slice(0, n)
        else:
            if split == "valid" and n_valid == 0:
                raise ValueError("n_valid must be >= 1 for the 'valid' split, got 0")
            if n_valid >= n:
                raise ValueError(
                    f"n_valid must be below the {n} samples of {str(files['labels'])!r}, "
                    f"got {n_valid}"
                )
            rows = slice(0, n - n_valid) if split == "train" else slice(n - n_valid, n)
        labels_np = np.asarray(arrays["labels"][rows]).reshape(-1)
        if not np.issubdtype(labels_np.dtype, np.number) or not np.all(
            (labels_np == np.round(labels_np)) & (labels_np >= 0) & (labels_np <= 9)
        ):
            raise ValueError(
                f"dataset {name!r}: {str(files['labels'])!r} must hold integer labels 0..9"
            )
        inputs = {}
        for key in ("image", "audio"):
            x = np.asarray(arrays[key][rows], dtype=np.float32).reshape(-1, 1, *sizes[key])
            if normalize:
                x = x / 255.0
            if not np.isfinite(x).all():
                raise ValueError(f"dataset {name!r}: {str(files[key])!r} has non-finite values")
            inputs[key] = torch.from_numpy(np.ascontiguousarray(x))
        super().__init__(inputs, torch.from_numpy(labels_np.astype(np.int64)), num_classes=10)
        self.split = split


def _load_av_mnist(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    normalize: bool = True,
    n_valid: int = 5000,
    test_split: str = "test",
) -> DatasetSplits:
    """The ``"av-mnist"`` loader: train on the training file's first ``N - n_valid`` samples,
    test on ``test_split`` (``"test"`` or ``"valid"``); with ``test_split="test"`` the last
    ``n_valid`` samples are the validation split of model selection (none when
    ``n_valid=0``)."""
    name = "av-mnist"
    base = require_root(root, name, AVMNIST_LAYOUT)
    check_choice(test_split, "test_split", ("test", "valid"))
    train = AVMNIST(base, "train", normalize=normalize, n_valid=n_valid)
    test = AVMNIST(base, test_split, normalize=normalize, n_valid=n_valid)
    # the validation split of model selection: MultiBench's, unless it is the test split here
    valid = (
        AVMNIST(base, "valid", normalize=normalize, n_valid=n_valid)
        if test_split == "test" and n_valid > 0
        else None
    )
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        # MultiBench's LeNet(1, 6, 3) and LeNet(1, 6, 5): channels doubling from 6
        encoders={
            "image": ("cnn", {"channels": (6, 12, 24, 48)}),
            "audio": ("cnn", {"channels": (6, 12, 24, 48, 96, 192)}),
        },
        description=(
            f"av-mnist: {len(train)} train / "
            + (f"{len(valid)} valid / " if valid is not None else "")
            + f"{len(test)} {test_split} samples, 10 classes, "
            f"image (1, 28, 28), audio (1, 112, 112)"
            + (", divided by 255" if normalize else "")
            + f"; MultiBench layout at {str(base)!r}"
        ),
        valid=valid,
    )


# ----------------------------------------------------------------------------- registry

register_dataset(
    "av-mnist",
    _load_av_mnist,
    "AV-MNIST digits: 28x28 images and 112x112 spoken-digit spectrograms, 10 classes "
    "(MultiBench layout; options normalize, n_valid=5000, test_split)",
    AVMNIST_LAYOUT,
)
