"""The file helpers every published-dataset loader shares (`clips`, `av_mnist`, `affect`).

Each raises with the dataset's name and the offending path: a missing file is a
``FileNotFoundError``, an unreadable or malformed one a ``ValueError``.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "frame_files",
    "has_frames",
    "is_image",
    "load_npy",
    "natural_key",
    "pil_image",
    "read_lines",
    "read_rows",
    "require_file",
]

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")


def require_file(path: Path, dataset: str, what: str) -> Path:
    """``path``, or ``FileNotFoundError`` naming it as the ``dataset``'s missing ``what``."""
    if not path.is_file():
        raise FileNotFoundError(f"dataset {dataset!r}: missing {what} {str(path)!r}")
    return path


def natural_key(name: str) -> list[Any]:
    """Sort key ordering ``frame_2`` before ``frame_10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def is_image(name: str) -> bool:
    """Whether ``name`` ends with an image suffix (`IMAGE_SUFFIXES`, any case)."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def frame_files(folder: Path) -> list[str]:
    """The image files of ``folder``, in natural order."""
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if is_image(e.name) and e.is_file()]
    return sorted(names, key=natural_key)


def has_frames(folder: Path) -> bool:
    """Whether ``folder`` holds at least one image file (False if it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            return any(is_image(e.name) and e.is_file() for e in entries)
    except OSError:
        return False


def read_lines(path: Path, dataset: str) -> list[tuple[int, str]]:
    """The non-empty lines of a split or class list (a UTF-8 BOM dropped, the line ending
    and surrounding blanks stripped) with their 1-based line numbers; for readers that must
    split a line themselves (e.g. class names that contain commas)."""
    require_file(path, dataset, "split list")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"dataset {dataset!r}: cannot read split list {str(path)!r}: {err}"
        ) from err
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def read_rows(path: Path, dataset: str) -> list[tuple[int, list[str]]]:
    """The non-empty rows of a split list with their 1-based line numbers. Rows are
    comma-separated (csv quoting honoured), or ``&``-separated as in AVE's own annotation
    files (``Category&VideoID&Quality&StartTime&EndTime``)."""
    rows: list[tuple[int, list[str]]] = []
    for number, line in read_lines(path, dataset):
        if "&" in line:
            fields = line.split("&")
        else:
            fields = next(csv.reader([line]))
        rows.append((number, [f.strip() for f in fields]))
    return rows


def pil_image() -> Any:
    """Pillow's ``PIL.Image`` module, or ``ImportError`` with the install line."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(
            "decoding video frames (.jpg/.png) needs Pillow: pip install pillow"
        ) from err
    return Image


def load_npy(path: Path, dataset: str) -> np.ndarray:
    """The ``.npy`` array at ``path``, memory-mapped (no pickles); a missing file or one that
    is not ``.npy`` raises naming it."""
    require_file(path, dataset, "array file")
    try:
        array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        return array
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"dataset {dataset!r}: cannot read {str(path)!r} as .npy: {err}") from err
