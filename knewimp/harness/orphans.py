"""Sweep workers that outlive their launcher exit once their current cell is written.

A joblib (loky) worker whose parent was killed is re-parented and would otherwise sit idle until
loky's idle timeout. :func:`watch_parent` starts, once per worker process, a daemon thread that
notices the new parent pid and ends the process as soon as no cell is running in it; a cell that
is running is finished and its record written first, so a killed launcher loses no work.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Iterator

log = logging.getLogger("knewimp.harness.orphans")

_busy = threading.Lock()
_watching = False


def _watch(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            with _busy:  # wait for the running cell, if any, then end before the next one starts
                log.warning("launcher %d is gone: this worker (pid %d) exits", parent, os.getpid())
                logging.shutdown()
                os._exit(0)
            return


def watch_parent(interval: float = 1.0) -> None:
    """In a worker process of a sweep, exit when the launching process dies (see module docstring);
    a no-op in the launching process itself and when already watching."""
    global _watching
    if _watching or not _is_worker():
        return
    _watching = True
    threading.Thread(target=_watch, args=(os.getppid(), interval), name="knewimp-parent-watch",
                     daemon=True).start()


@contextlib.contextmanager
def cell_running() -> Iterator[None]:
    """Hold off the exit of :func:`watch_parent` while a cell runs in this process."""
    with _busy:
        yield


def _is_worker() -> bool:
    import multiprocessing

    return multiprocessing.current_process().name != "MainProcess"
