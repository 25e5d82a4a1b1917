"""Writing files so that a crash or a kill never leaves half of one: the one atomic-write path of olkit.

Every writer goes through :func:`atomic_writer`: the bytes go to a hidden temporary file in the destination's
folder, are flushed and fsynced, and the temporary file is renamed over the destination (``os.replace``, atomic on
POSIX and Windows). A reader sees the old file or the new one, never a mix. :func:`utc_now` is the one timestamp
of olkit's records (run state, history, label events).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from olkit.types import PathLike

__all__ = [
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
    "utc_now",
]


def utc_now() -> dt.datetime:
    """The current time in UTC, timezone-aware (``.isoformat(timespec="seconds")`` for records)."""
    return dt.datetime.now(dt.UTC)


def utc_stamp() -> str:
    """The current UTC time as ISO 8601 to the second (``2026-12-01T23:59:59+00:00``)."""
    return utc_now().isoformat(timespec="seconds")


@contextmanager
def atomic_writer(path: PathLike, *, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``, on an error it is removed.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding`` defaults to UTF-8). The parent folder is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if "b" in mode:
            fh: IO[Any] = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding or "utf-8")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, mode="wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    with atomic_writer(path, mode="w") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_json(path: PathLike, doc: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``doc`` as JSON (``default=str`` for paths, dates and numpy scalars) atomically; returns the path."""
    return atomic_write_text(path, json.dumps(doc, indent=indent, sort_keys=sort_keys, default=str))


def atomic_save(path: PathLike, save: Callable[[Path], Any]) -> Path:
    """Let ``save(tmp_path)`` write a file that must keep ``path``'s suffix (``.keras``, ``.skops``, ``.npz``),
    then move it over ``path``; the temporary file is removed if ``save`` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix="".join(path.suffixes))
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
