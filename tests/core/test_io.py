"""`moo.io.atomic_write_bytes`: whole files, the umask's permissions, no temporary left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from moo.io import atomic_write_bytes


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_written_files_respect_the_umask(tmp_path: Path, mask: int) -> None:
    """Files used to be written 0600 (the temporary file's mode) whatever the umask."""
    old = os.umask(mask)
    try:
        path = atomic_write_bytes(tmp_path / "sub" / "out.bin", b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_bytes() == b"data"
    assert [p.name for p in path.parent.iterdir()] == ["out.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = atomic_write_bytes(tmp_path / "out.bin", b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
