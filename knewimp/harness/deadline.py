"""``stop_at``: a time after which a sweep starts no new cell.

A sweep that must end by a known time (a session, a reservation, a night) is best stopped by not
starting cells that cannot finish, rather than by killing cells in flight and losing their work.
A cell starts only if ``now + estimate <= stop_at``, where the estimate is the cost model's
seconds for that cell (``knewimp.harness.cost``); a cell with no estimate starts if ``now < stop_at``.
Cells held back write no record, so the next run of the same sweep picks them up.
"""
from __future__ import annotations

import datetime as dt

FORMAT_HINT = "an ISO 8601 date and time such as 2026-11-27T04:40 (local time) or 2026-11-27T04:40+00:00"


def parse_stop_at(value) -> dt.datetime | None:
    """The deadline as an aware datetime (a naive one is in this machine's local time), or None."""
    if value is None or value == "":
        return None
    text = str(value)
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
