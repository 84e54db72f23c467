"""``stop_at``: a time after which a sweep starts no new cell.

A sweep that must end by a known time (a session, a reservation, a night) is best stopped by not
starting cells that cannot finish, rather than by killing cells in flight and losing their work.
A cell starts only if ``now + estimate <= stop_at``, where the estimate is the cost model's
seconds for that cell (``knewimp.harness.cost``: the results folder's records, else the committed
ones); a cell whose column nothing estimates is weighed at its method's median seconds.
Cells held back write no record, so the next run of the same sweep picks them up.

``stop_at`` may also be a duration from the launch (``+10m``, ``+2h``, ``+90s``, ``+1h30m``):
``knewimp-run`` turns it into a time once, before composing anything, so the sweep's own start-up
counts against it and every job weighs the same deadline.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Sequence

FORMAT_HINT = ("an ISO 8601 date and time such as 2026-11-27T04:40 (local time) or 2026-11-27T04:40+00:00, "
               "or a duration from the launch such as +10m, +2h or +1h30m")
_DURATION = re.compile(r"\+(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def duration_seconds(text: str) -> int | None:
    """Seconds of a ``+1h30m``-style duration, or None when ``text`` is not one."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or not any(m.groups()):
        return None
    h, mi, s = (int(g or 0) for g in m.groups())
    return 3600 * h + 60 * mi + s


def parse_stop_at(value, now: dt.datetime | None = None) -> dt.datetime | None:
    """The deadline as an aware datetime (a naive one is in this machine's local time; a duration
    counts from ``now``, default the present), or None."""
    if value is None or value == "":
        return None
    text = str(value)
    secs = duration_seconds(text)
    if secs is not None:
        return (now or dt.datetime.now(dt.timezone.utc)) + dt.timedelta(seconds=secs)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or ("T" not in text and " " not in text):  # a bare date would silently mean midnight
        raise ValueError(f"stop_at must be {FORMAT_HINT}, got {value!r}")
    return when if when.tzinfo is not None else when.astimezone()


def hold_reason(stop_at: dt.datetime, estimate_seconds: float | None, now: dt.datetime | None = None) -> str | None:
    """Why a cell must not start before ``stop_at``, or None when it may start."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if now >= stop_at:
        return f"past stop_at {stop_at.isoformat(timespec='minutes')}"
    if estimate_seconds is not None and now + dt.timedelta(seconds=estimate_seconds) > stop_at:
        left = (stop_at - now).total_seconds()
        return (f"estimated {estimate_seconds:.0f}s, but only {left:.0f}s left before stop_at "
                f"{stop_at.isoformat(timespec='minutes')}")
    return None


def launch_window(estimates: Sequence[float | None], stop_at: dt.datetime, jobs: int = 1,
                  now: dt.datetime | None = None) -> list[bool]:
    """Which cells, taken in launch order by ``jobs`` parallel workers, the estimates let start
    before ``stop_at``: each cell goes to the worker free first; it is in the window when it would
    start before the deadline and fit in the time left from the launch (a None estimate: only the
    first condition). A launch of the window's cells only spends no start-up on cells that cannot
    run; each job still checks its own cell against the clock, so a faster pace than estimated
    holds nothing back that the window let in, and a slower one starts nothing late."""
    now = now or dt.datetime.now(dt.timezone.utc)
    budget = (stop_at - now).total_seconds()
    free = [0.0] * max(1, jobs)
    window = []
    for est in estimates:
        fits = est is None or est <= budget
        w = min(range(len(free)), key=free.__getitem__)
        start = free[w]
        inside = fits and start < budget
        window.append(inside)
        if inside:
            free[w] = start + (est or 0.0)
    return window
