"""Checkpoints as `.npz` files that are byte-for-byte reproducible.

`numpy.savez` stamps each member with the current time, so two identical runs would write
different files. These are written member by member with a fixed timestamp instead; `numpy.load`
reads them like any other `.npz`.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def save(path: Path, arrays: dict[str, NDArray[np.float64]]) -> str:
    """Writes `arrays` to `path` atomically; returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    data = buffer.getvalue()
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return hashlib.sha256(data).hexdigest()


def load(path: Path) -> dict[str, NDArray[np.float64]]:
    """Reads a checkpoint written by `save`."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: np.asarray(archive[name], dtype=np.float64) for name in archive.files}
