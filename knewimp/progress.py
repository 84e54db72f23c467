"""Phase and step progress for long loops, through the standard logging module.

Messages go to the ``knewimp.progress`` logger at INFO, at most every ``every`` seconds, with
the rate so far and an estimate of the time left. Silent unless logging is configured (the
harness configures it; a library user can call ``logging.basicConfig(level=logging.INFO)``).
"""
from __future__ import annotations

import logging
import time

logger = logging.getLogger("knewimp.progress")


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


class Progress:
    """Report ``phase: done/total`` with rate and ETA; call :meth:`update` once per step."""

    def __init__(self, phase: str, total: int, every: float = 10.0, log: logging.Logger | None = None):
        self.phase, self.total, self.every = phase, int(total), float(every)
        self.log = log or logger
        self.done = 0
        self.start = self._last = time.perf_counter()
        self.log.info("%s: start (%d steps)", phase, self.total)

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every and self.done < self.total:
            self._last = now
            rate = self.done / (now - self.start)
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            self.log.info("%s: %d/%d (%.1f/s, about %s left)", self.phase, self.done, self.total, rate, format_seconds(left))

    def close(self) -> float:
        elapsed = time.perf_counter() - self.start
        self.log.info("%s: done %d steps in %s", self.phase, self.done, format_seconds(elapsed))
        return elapsed
