"""What the scaling experiment adds to a cell: a row subsample, a time cap and peak memory.

Three config keys, all null (off) by default, so that every other experiment's cells and records
are unchanged:

* ``n_rows``: the cell keeps that many rows of its dataset (a subsample fixed per seed,
  :func:`knewimp.protocol.cell_input.subsample_rows`); identity (a protocol key);
* ``wass_row_sample``: WASS over at most that many rows (:func:`knewimp.protocol.metrics.wass`),
  which keeps its O(m^2) cost matrix affordable at 50,000 rows; identity;
* ``time_cap_s``: a fit still running after that many seconds is stopped and recorded as
  ``failed`` with the error ``time cap: ...`` (not identity: it decides whether a cell finishes,
  and the record says when it did not).

Peak memory is the process's resident-set high-water mark (Linux ``VmHWM``) during the fit, reset
just before it (writing 5 to ``/proc/self/clear_refs``); where that reset is not allowed the field
is None rather than a peak inherited from earlier cells of the same process.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")


class TimeCap(Exception):
    """A cell's fit ran past its ``time_cap_s``."""


def check_scale_keys(cfg) -> str | None:
    """A one-line problem with the scaling keys of ``cfg``, or None."""
    for key, least in (("n_rows", 2), ("wass_row_sample", 2)):
        value = cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            return f"{key}={value!r}: must be an integer >= {least}, or null (off)"
    cap = cfg.get("time_cap_s")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0):
        return f"time_cap_s={cap!r}: must be a number of seconds > 0, or null (no cap)"
    return None


@contextlib.contextmanager
def time_cap(seconds: float | None):
    """Raise :class:`TimeCap` in the block once ``seconds`` of wall time have passed (None: never).

    A SIGALRM timer: it interrupts Python code between bytecodes, so a method is stopped at its next
    Python-level step (a single long C call finishes first). Signals reach the main thread only;
    a cell run elsewhere with a cap is refused rather than left uncapped.
    """
    if seconds is None:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("time_cap_s needs the cell to run in its process's main thread")

    def stop(signum, frame):
        raise TimeCap(f"time cap: the fit ran past time_cap_s={seconds:g} s and was stopped")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


def _status_mb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def reset_peak_memory() -> bool:
    """Reset the process's resident-set high-water mark; False where the system does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_fields(reset_ok: bool, rss_before: float | None) -> dict[str, Any]:
    """The record's memory fields after a fit: peak resident set (MB) since the reset, and the
    resident set before the fit (the interpreter and libraries), so that their difference is the fit's."""
    return {"peak_rss_mb": _status_mb("VmHWM") if reset_ok else None, "rss_before_fit_mb": rss_before}


def rss_mb() -> float | None:
    """The process's current resident set (MB)."""
    return _status_mb("VmRSS")
