"""Atomic segment folders: ``.npy`` columns and a ``meta.json``, all or nothing.

Every index segment (landmarks, vector embeddings, cover sequences) is written to a
temporary folder beside its final place, each file fsynced, then renamed into place and
the folders' entries fsynced (:func:`fsync_dir`): a reader sees the whole segment or none
of it, the rename survives a power loss once the function returns, and an interrupted
write leaves only a ``.tmp-*`` folder that the next ingest's garbage collection removes.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the entries of folder ``path`` durable: a file created, renamed or removed in
    it is on disk after this returns (an fsync of the file itself does not cover its
    name). A no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # pragma: no cover (Windows)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_segment_folder(
    root: str | os.PathLike,
    name: str,
    columns: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
) -> Path:
    """Write ``root/name`` with one ``KEY.npy`` per column and ``meta.json``.

    Raises
    ------
    FileExistsError
        If ``root/name`` exists (segments are immutable).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists():
        raise FileExistsError(f"segment {final} already exists")
    tmp = root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for key, arr in columns.items():
            with open(tmp / f"{key}.npy", "wb") as fh:
                np.save(fh, np.asarray(arr))
                fh.flush()
                os.fsync(fh.fileno())
        with open(tmp / "meta.json", "w", encoding="utf-8") as fh:
            json.dump(dict(meta), fh)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(tmp)  # the files' names
        os.rename(tmp, final)
        fsync_dir(root)  # the rename
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The ``meta.json`` of a segment folder."""
    with open(Path(path) / "meta.json", encoding="utf-8") as fh:
        return json.load(fh)
