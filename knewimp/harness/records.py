"""Run records: one JSON file per cell, named from the cell's identity, written atomically.

A record is the single source of truth for a result: tables and figures are derived from records
only. The file name is derived from the cell identity (dataset, mechanism, missing rate, seed,
method, preset and a digest of the method's parameters and of any non-default protocol option), so
a re-launched sweep finds the record of a finished cell and skips it, and two different cells can
never share a file.

Every reader goes through :func:`inspect_record`: a file that is not a regular file, is larger than
:data:`MAX_RECORD_BYTES`, is not readable UTF-8 JSON (nesting or an integer too large to parse
included), not an object, lacks an identity field or ``status``, has a name field outside
``[a-z0-9_]+``, says ``ok`` without finite non-negative metrics, or whose identity recomputed from
its own fields (:func:`knewimp.harness.identity.cell_id`) is not its file name, is *damaged*: it is never a result, it is reported by name and reason
(:func:`scan`), and the next run of its cell moves it to ``runs/.damaged/`` (never deleted) and
computes the cell again.

Files that only writers use live beside the records, hidden: ``.<cell id>~<host>~<pid>~<random>.tmp``
(a record being written; one whose writer is dead is removed by :func:`clean_stale_tmp`) and
``.claims/<cell id>.claim`` (the cell is being computed: :mod:`knewimp.harness.claims`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import math
import os
import platform
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from knewimp.harness.atomic import tmp_prefix
from knewimp.harness.identity import NAME_FIELDS, cell_id, name_problem, record_identity

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
#: A record is a few kB (16 kB with a trajectory); a file larger than this is not one, and is not
#: read into memory (a link to /dev/zero is refused before: not a regular file).
MAX_RECORD_BYTES = 4 * 1024 * 1024
#: Digits of the longest integer a record may hold (a seed below 2**32 has 10): a longer one is
#: damage, never parsed (Python's int() of a huge digit string is slow or refused).
MAX_INT_DIGITS = 40
#: Seeds are numpy seeds: non-negative and below 2**32.
MAX_SEED = 2**32 - 1


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
    if not isinstance(rec["seed"], int) or isinstance(rec["seed"], bool) or not 0 <= rec["seed"] <= MAX_SEED:
        return f"seed {rec['seed']!r} is not an integer in [0, 2**32)"
    if not _is_number(rec["missing_rate"]) or not 0 < rec["missing_rate"] < 1:
        return f"missing_rate {rec['missing_rate']!r} is not a number in (0, 1)"
    for field in NAME_FIELDS:
        if name_problem(rec[field]):
            return f"{field} {str(rec[field])[:80]!r} {name_problem(rec[field])}"
    for field in ("params", "protocol"):
        if not isinstance(rec.get(field, {}), dict):
            return f"{field} is not an object ({str(rec[field])[:80]!r})"
    if stem is not None and rec["cell_id"] != stem:
        return f"cell_id {str(rec['cell_id'])[:120]!r} does not match the file name"
    if rec["status"] == "ok":
        for m in (OK_METRIC, *OTHER_METRICS):
            if (m == OK_METRIC or rec.get(m) is not None) and not (_is_number(rec.get(m)) and rec[m] >= 0):
                return f"status ok but {m} is {rec.get(m)!r}, not a finite non-negative number"
    if stem is not None:
        try:
            own = cell_id(**record_identity(rec))
        except (TypeError, ValueError) as exc:
            return f"its identity fields give no cell id ({exc})"
        if own != stem:
            return f"its identity fields give the cell id {own!r}, not its file name"
    return None


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def parse_record_text(text: str) -> tuple[Any, str | None]:
    """(parsed JSON, None), or (None, why it is not JSON a record can be): nesting too deep to parse
    (RecursionError) and integers too long (ValueError) are damage like a syntax error."""
    try:
        return json.loads(text, parse_int=_parse_int), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON, truncated or corrupt ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except RecursionError:
        return None, "not a record: JSON nested too deep to parse"
    except ValueError as exc:
        return None, f"not a record: {str(exc)[:120]}"


def read_regular(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; OSError otherwise (a FIFO, a device, a
    directory or a larger file are refused without reading them: nothing blocks or fills memory)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "a directory")
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            raise OSError(f"{kind}, not a regular file")
        if info.st_size > max_bytes:
            raise OSError(f"{info.st_size} bytes, larger than the {max_bytes} a record may have")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise OSError(f"more than the {max_bytes} bytes a record may have")
        return data
    finally:
        os.close(fd)


def inspect_record(path: str | os.PathLike) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) for a usable record; (None, reason) for a damaged one; (None, None) when
    there is nothing at ``path``."""
    rec, reason, _ = _inspect(Path(path))
    return rec, reason


def _inspect(path: Path) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """:func:`inspect_record` and the text of a usable record."""
    try:
        raw = read_regular(path, MAX_RECORD_BYTES)
    except FileNotFoundError:
        return None, None, None
    except IsADirectoryError:
        return None, "a directory, not a file", None
    except OSError as exc:
        if exc.errno is None:
            return None, str(exc), None
        return None, f"not readable ({exc.strerror or exc})", None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start})", None
    rec, problem = parse_record_text(text)
    if problem:
        return None, problem, None
    reason = record_problem(rec, path.stem)
    return (None, reason, None) if reason else (rec, None, text)


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The usable record at ``path``, or None (absent or damaged: the cell is not done)."""
    return inspect_record(path)[0]


def _record_files(results_dir: str | os.PathLike) -> list[Path]:
    return sorted(p for p in runs_dir(results_dir).glob("*.json") if not p.name.startswith("."))


def scan(results_dir: str | os.PathLike) -> tuple[list[dict[str, Any]], list[Damaged]]:
    """(usable records, damaged files with their reasons) under ``<results_dir>/runs/``."""
    good, damaged = [], []
    for path in _record_files(results_dir):
        rec, reason = inspect_record(path) if _SCAN_CACHE is None else _inspect_cached(path, _SCAN_CACHE)
        if rec is not None:
            good.append(rec)
        elif reason is not None:
            damaged.append(Damaged(path, reason))
    return good, damaged


#: {absolute path: (stat key, text of a usable record or None, reason)} while :func:`scan_cache` is open.
_SCAN_CACHE: dict[str, tuple[tuple, str | None, str | None]] | None = None


@contextlib.contextmanager
def scan_cache() -> Iterator[None]:
    """Within the block, :func:`scan` re-reads and re-verifies a file only when its stat (device,
    inode, size, modification and change times) differs from the last scan's: a report build
    scans the same folders many times, and verifying thousands of records is most of each scan.
    A file added, removed, rewritten or replaced since is seen as it is now; each scan still
    returns records of its own (parsed again from the kept text), so no caller shares another's."""
    global _SCAN_CACHE
    outer = _SCAN_CACHE
    if outer is None:
        _SCAN_CACHE = {}
    try:
        yield
    finally:
        _SCAN_CACHE = outer


def _inspect_cached(path: Path, cache: dict) -> tuple[dict[str, Any] | None, str | None]:
    try:
        info = os.stat(path)
    except OSError:
        return inspect_record(path)
    if not stat.S_ISREG(info.st_mode):
        return inspect_record(path)
    # taken before reading: a file replaced in between is kept under the older key, so read again next time
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    name = os.path.abspath(path)
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        return (json.loads(hit[1]), None) if hit[1] is not None else (None, hit[2])
    rec, reason, text = _inspect(path)
    cache[name] = (key, text, reason)
    return rec, reason


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


_tmp_prefix = tmp_prefix


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
