"""Atomic file writes, shared by the records (harness) and every output of the report.

A file is written to a hidden temporary file in its own folder, flushed and fsynced, then renamed
over the target: a reader, or a writer killed half-way (SIGKILL during ``make tables``), sees the
old file or the complete new one, never a truncated one. ``inside`` refuses a target that resolves
outside a given folder (a name taken from a record can never write elsewhere).
"""
from __future__ import annotations

import contextlib
import csv
import os
import platform
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

FILE_MODE = 0o644


def tmp_prefix(stem: str) -> str:
    """``.<stem>~<host>~<pid>~``: a temporary file whose writer can be told dead
    (:func:`knewimp.harness.records.clean_stale_tmp`)."""
    return f".{stem}~{platform.node()}~{os.getpid()}~"


def check_inside(path: str | os.PathLike, inside: str | os.PathLike) -> Path:
    """``path``, or ValueError when it resolves outside the folder ``inside``."""
    path = Path(path)
    root = Path(inside).resolve()
    if not path.resolve().is_relative_to(root):
        raise ValueError(f"refusing to write {path}: outside the output folder {root}")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, inside: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write (e.g. a figure's ``savefig``); on a clean
    exit it is fsynced and renamed over ``path``, on an error removed."""
    path = Path(path) if inside is None else check_inside(path, inside)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=tmp_prefix(path.stem), suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, inside: str | os.PathLike | None = None,
                      encoding: str = "utf-8") -> Path:
    with atomic_path(path, inside) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_csv_atomic(path: str | os.PathLike, fields: Sequence[str], rows: Iterable[dict],
                     inside: str | os.PathLike | None = None) -> Path:
    """A CSV with a header of ``fields`` (keys of a row outside them are left out)."""
    with atomic_path(path, inside) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return Path(path)


def save_figure_atomic(fig, path: str | os.PathLike, inside: str | os.PathLike | None = None, **kwargs) -> Path:
    """``fig.savefig(path, **kwargs)`` atomically (the format from ``path``'s suffix)."""
    kwargs.setdefault("format", Path(path).suffix.lstrip(".") or None)
    with atomic_path(path, inside) as tmp:
        fig.savefig(tmp, **kwargs)
    return Path(path)
