"""Claims: a cell is claimed before it is computed, so that N launchers on one results folder
compute each cell once.

A claim is ``<results_dir>/runs/.claims/<cell id>.claim``, created with ``O_CREAT | O_EXCL`` (an
atomic test-and-set on a local or NFSv3+ file system) and holding the claimant's host, pid and
start time; its modification time is a heartbeat, renewed every ``LEASE_SECONDS / 5`` by a thread
of the claimant while the cell runs. A claim is stale, and is taken over, when its process is gone
(same host, pid not alive) or its heartbeat is older than ``LEASE_SECONDS`` (a dead host, or a
reused pid). A claim is released (deleted) when the record is written or the cell fails.
"""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path

from knewimp.harness.records import pid_alive, runs_dir

LEASE_SECONDS = 300.0


def claims_dir(results_dir: str | os.PathLike) -> Path:
    return runs_dir(results_dir) / ".claims"


def describe(holder: dict | None) -> str:
    if not holder:
        return "another process (claim being written)"
    return f"{holder.get('host')}:{holder.get('pid')} since {holder.get('started')}"


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def is_stale(path: Path, now: float | None = None, lease: float = LEASE_SECONDS) -> bool:
    now = time.time() if now is None else now
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return True
    if age > lease:
        return True
    holder = _read(path)
    if holder and holder.get("host") == platform.node() and isinstance(holder.get("pid"), int):
        return not pid_alive(holder["pid"])
    return False


class Claim:
    """A held claim; ``release()`` (or leaving the ``with`` block) deletes it."""

    def __init__(self, path: Path, lease: float):
        self.path = path
        self.ino = path.stat().st_ino
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, args=(lease / 5,), daemon=True)
        self._beat.start()

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        try:  # only our own claim: a stale-claim takeover may have replaced it
            if self.path.stat().st_ino == self.ino:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_claim(results_dir: str | os.PathLike, cid: str, lease: float = LEASE_SECONDS) -> Claim | str:
    """Claim cell ``cid``: a :class:`Claim`, or a description of the live holder."""
    folder = claims_dir(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cid}.claim"
    me = {"host": platform.node(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    for _ in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                ino = path.stat().st_ino
            except FileNotFoundError:
                continue
            if not is_stale(path, lease=lease):
                return describe(_read(path))
            # take the stale claim over: move it aside under a name of our own, then check that what
            # moved is the claim judged stale (not a fresh one another taker made meanwhile)
            aside = path.with_name(f"{path.name}~{me['host']}~{me['pid']}~stale")
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue
            if aside.stat().st_ino != ino:  # a live claim: put it back unless yet another exists
                try:
                    os.link(aside, path)
                except FileExistsError:
                    pass
                aside.unlink(missing_ok=True)
                return describe(_read(path))
            aside.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return Claim(path, lease)
    return describe(_read(path))
