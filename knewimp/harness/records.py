"""Run records: one JSON file per cell, named from the cell's identity, written atomically.

A record is the single source of truth for a result: tables and figures are derived from records
only. The file name is derived from the cell identity (dataset, mechanism, missing rate, seed,
method, preset and a digest of the method's parameters), so a re-launched sweep finds the record
of a finished cell and skips it, and two different cells can never share a file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1


def runs_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: str | os.PathLike, cid: str) -> Path:
    return runs_dir(results_dir) / f"{cid}.json"


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record at ``path``, or None if it does not exist or is unreadable (treated as not run)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_record(results_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` under ``<results_dir>/runs/<cell_id>.json`` atomically.

    The JSON goes to a temporary file in the same directory, is flushed and fsynced, then renamed
    over the target: a reader (or a killed sweep) sees either the old file or the complete new one.
    """
    path = record_path(results_dir, record["cell_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1, sort_keys=True, allow_nan=False, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def iter_records(results_dir: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every readable record under ``<results_dir>/runs/``, in file-name order."""
    for path in sorted(runs_dir(results_dir).glob("*.json")):
        rec = read_record(path)
        if rec is not None:
            yield rec


def load_records(results_dir: str | os.PathLike) -> list[dict[str, Any]]:
    return list(iter_records(results_dir))
