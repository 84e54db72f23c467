"""Run records: one JSON file per cell, named from the cell's identity, written atomically.

A record is the single source of truth for a result: tables and figures are derived from records
only. The file name is derived from the cell identity (dataset, mechanism, missing rate, seed,
method, preset and a digest of the method's parameters and of any non-default protocol option), so
a re-launched sweep finds the record of a finished cell and skips it, and two different cells can
never share a file.

Every reader goes through :func:`inspect_record`: a file that is not readable UTF-8 JSON, not an
object, lacks an identity field or ``status``, does not match its file name, or says ``ok`` without
finite metrics is *damaged*: it is never a result, it is reported by name and reason
(:func:`scan`), and the next run of its cell moves it to ``runs/.damaged/`` (never deleted) and
computes the cell again.

Files that only writers use live beside the records, hidden: ``.<cell id>~<host>~<pid>~<random>.tmp``
(a record being written; one whose writer is dead is removed by :func:`clean_stale_tmp`) and
``.claims/<cell id>.claim`` (the cell is being computed: :mod:`knewimp.harness.claims`).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple

SCHEMA_VERSION = 1
#: Fields every record has (its id, the named identity, the outcome).
REQUIRED_FIELDS = ("cell_id", "dataset", "mechanism", "missing_rate", "seed", "method", "preset", "status")
STATUSES = ("ok", "failed")
#: The metric an ok record must hold as a finite number; the others, where present and not null
#: (a metric left out on purpose, e.g. WASS beyond a size), must be finite numbers too.
OK_METRIC = "mae"
OTHER_METRICS = ("rmse", "wass")
RECORD_MODE = 0o644
#: A temporary file whose writer cannot be checked (another host, an unparsable name) is stale
#: after this many seconds; writing a record takes well under a second.
TMP_MAX_AGE = 3600.0


class Damaged(NamedTuple):
    path: Path
    reason: str


def runs_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: str | os.PathLike, cid: str) -> Path:
    return runs_dir(results_dir) / f"{cid}.json"


def damaged_dir(results_dir: str | os.PathLike) -> Path:
    return runs_dir(results_dir) / ".damaged"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record_problem(rec: Any, stem: str | None = None) -> str | None:
    """Why a parsed record cannot be used as a result, or None. ``stem``: its file name's."""
    if not isinstance(rec, dict):
        return f"not a JSON object (a {type(rec).__name__})"
    missing = [f for f in REQUIRED_FIELDS if rec.get(f) is None]
    if missing:
        return f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    if rec["status"] not in STATUSES:
        return f"status {rec['status']!r} is not one of {', '.join(STATUSES)}"
    if not isinstance(rec["seed"], int) or isinstance(rec["seed"], bool):
        return f"seed {rec['seed']!r} is not an integer"
    if not _is_number(rec["missing_rate"]):
        return f"missing_rate {rec['missing_rate']!r} is not a number"
    if not isinstance(rec.get("params", {}), dict):
        return f"params is not an object ({rec['params']!r})"
    if stem is not None and rec["cell_id"] != stem:
        return f"cell_id {rec['cell_id']!r} does not match the file name"
    if rec["status"] == "ok":
        for m in (OK_METRIC, *OTHER_METRICS):
            if (m == OK_METRIC or rec.get(m) is not None) and not _is_number(rec.get(m)):
                return f"status ok but {m} is {rec.get(m)!r}, not a finite number"
    return None


def inspect_record(path: str | os.PathLike) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a usable record; (None, reason) for a damaged one; (None, None) when
    there is nothing at ``path``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return None, "a directory, not a file"
    except OSError as exc:
        return None, f"not readable ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start})"
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON, truncated or corrupt ({exc.msg} at line {exc.lineno} column {exc.colno})"
    reason = record_problem(rec, path.stem)
    return (None, reason) if reason else (rec, None)


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The usable record at ``path``, or None (absent or damaged: the cell is not done)."""
    return inspect_record(path)[0]


def _record_files(results_dir: str | os.PathLike) -> list[Path]:
    return sorted(p for p in runs_dir(results_dir).glob("*.json") if not p.name.startswith("."))


def scan(results_dir: str | os.PathLike) -> tuple[list[dict[str, Any]], list[Damaged]]:
    """(usable records, damaged files with their reasons) under ``<results_dir>/runs/``."""
    good, damaged = [], []
    for path in _record_files(results_dir):
        rec, reason = inspect_record(path)
        if rec is not None:
            good.append(rec)
        elif reason is not None:
            damaged.append(Damaged(path, reason))
    return good, damaged


def settled(rec: dict[str, Any] | None, config: Any) -> bool:
    """Whether a launch with this config leaves the cell of ``rec`` alone: its record is ok, or
    failed while ``retry_failed`` is false; ``force`` recomputes either."""
    if rec is None or config.get("force", False):
        return False
    return rec.get("status") == "ok" or (rec.get("status") == "failed" and not config.get("retry_failed", True))


def iter_records(results_dir: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Every usable record under ``<results_dir>/runs/``, in file-name order (damaged ones: :func:`scan`)."""
    yield from scan(results_dir)[0]


def load_records(results_dir: str | os.PathLike) -> list[dict[str, Any]]:
    return scan(results_dir)[0]


def damaged_records(results_dir: str | os.PathLike) -> list[Damaged]:
    return scan(results_dir)[1]


def quarantine(path: str | os.PathLike) -> Path:
    """Move a damaged file (or directory) to ``runs/.damaged/<name>.<UTC time>``; never deleted."""
    path = Path(path)
    dest_dir = path.parent / ".damaged"
    dest_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    dest = dest_dir / f"{path.name}.{stamp}"
    n = 1
    while dest.exists():
        dest, n = dest_dir / f"{path.name}.{stamp}.{n}", n + 1
    os.rename(path, dest)
    return dest


def _tmp_prefix(stem: str) -> str:
    return f".{stem}~{platform.node()}~{os.getpid()}~"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_tmp(folder: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove the temporary files of writers that are gone (same host and dead pid, or older than
    :data:`TMP_MAX_AGE`); returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    host = platform.node()
    for path in Path(folder).glob(".*.tmp"):
        parts = path.name[1:-len(".tmp")].split("~")
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        stale = age > TMP_MAX_AGE
        if len(parts) == 4 and parts[1] == host and parts[2].isdigit():
            stale = stale or not pid_alive(int(parts[2]))
        if stale:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_json_atomic(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> Path:
    """Write ``obj`` as JSON (``indent=1`` unless given) to ``path`` atomically, mode 0644.

    The JSON goes to a temporary file in the same directory, is flushed and fsynced, then renamed
    over the target: a reader (or a killed writer) sees either the old file or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.stem), suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, RECORD_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, **{"indent": 1, **dump_kwargs})
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_record(results_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` under ``<results_dir>/runs/<cell_id>.json`` atomically (:func:`write_json_atomic`)."""
    return write_json_atomic(record_path(results_dir, record["cell_id"]), record, sort_keys=True, allow_nan=False,
                             default=str)
