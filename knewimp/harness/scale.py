"""What the scaling experiment adds to a cell: a row subsample, a time cap and peak memory.

Three config keys, all null (off) by default, so that every other experiment's cells and records
are unchanged:

* ``n_rows``: the cell keeps that many rows of its dataset (a subsample fixed per seed,
  :func:`knewimp.protocol.cell_input.subsample_rows`); identity (a protocol key);
* ``wass_row_sample``: WASS over at most that many rows (:func:`knewimp.protocol.metrics.wass`),
  which keeps its O(m^2) cost matrix affordable at 50,000 rows; identity;
* ``time_cap_s``: a fit that has used that many seconds of CPU time is stopped and recorded as
  ``failed`` with the error ``time cap: ...`` (not identity: it decides whether a cell finishes,
  and the record says when it did not). CPU time, not wall time, so that a cell's fate does not
  depend on what else the machine was running (a sweep beside a test suite, two sweeps on two
  cores); with one thread per cell the two agree on an idle machine.

A cell whose column (same method, settings, seed and protocol but the row count) already ran past
its cap at fewer rows is not run: its record says ``failed`` with ``time cap: not run, ...`` and
the smaller row count (:func:`capped_at_fewer_rows`), since a fit does not get faster with more
rows; a scaling sweep then spends at most one capped fit per column and seed.

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


#: How the error of a fit stopped by the cap begins (:func:`time_cap`).
RAN_PAST = "time cap: the fit ran past"


def capped_at_fewer_rows(results_dir, identity: dict[str, Any], cap: float | None) -> str | None:
    """The error of a cell ``identity`` at ``n_rows`` whose column already hit the time cap at fewer
    rows in ``results_dir`` (the same cell id but for ``n_rows``), or None."""
    from knewimp.harness import records

    n = (identity.get("protocol") or {}).get("n_rows")
    if cap is None or n is None:
        return None
    same = ("dataset", "mechanism", "missing_rate", "seed", "method", "preset", "params")
    rest = {k: v for k, v in identity["protocol"].items() if k != "n_rows"}
    # the fewest rows at which a fit of this column and seed ran and was stopped by a cap (a record
    # "not run" at more rows names that same fit, so it is not the one to name)
    capped = [(proto["n_rows"], rec) for rec in records.load_records(results_dir)
              if rec.get("status") == "failed" and str(rec.get("error", "")).startswith(RAN_PAST)
              and isinstance((proto := rec.get("protocol") or {}).get("n_rows"), int) and proto["n_rows"] < n
              and all(rec.get(k) == identity[k] for k in same)
              and {k: v for k, v in proto.items() if k != "n_rows"} == rest]
    if not capped:
        return None
    fewer, rec = min(capped, key=lambda fr: fr[0])
    return (f"time cap: not run; at n_rows={fewer} this column and seed already ran past a cap "
            f"({rec.get('time_cap_s', cap):g} s), and a fit does not get faster with more rows")


@contextlib.contextmanager
def time_cap(seconds: float | None):
    """Raise :class:`TimeCap` in the block once the process has used ``seconds`` of CPU time in it
    (user and system, all threads; None: never).

    A SIGPROF timer (``ITIMER_PROF``, which counts the process's CPU time): it interrupts Python
    code between bytecodes, so a method is stopped at its next
    Python-level step (a single long C call finishes first). Signals reach the main thread only;
    a cell run elsewhere with a cap is refused rather than left uncapped.
    """
    if seconds is None:
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("time_cap_s needs the cell to run in its process's main thread")

    def stop(signum, frame):
        raise TimeCap(f"{RAN_PAST} time_cap_s={seconds:g} s of CPU time and was stopped")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0.0)
        signal.signal(signal.SIGPROF, previous)


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
