"""A sweep worker whose launcher died finishes the cell it is running, then exits."""
import threading
import time

from knewimp.harness import orphans


def test_worker_exits_after_its_running_cell_when_the_launcher_is_gone(monkeypatch):
    exited = threading.Event()
    parent = [1000]
    monkeypatch.setattr(orphans, "_watching", False)
    monkeypatch.setattr(orphans, "_is_worker", lambda: True)
    monkeypatch.setattr(orphans.os, "getppid", lambda: parent[0])
    monkeypatch.setattr(orphans.os, "_exit", lambda code: exited.set())
    monkeypatch.setattr(orphans.logging, "shutdown", lambda: None)

    with orphans.cell_running():
        orphans.watch_parent(interval=0.01)
        parent[0] = 1  # the launcher died: re-parented
        time.sleep(0.1)
        assert not exited.is_set(), "exited in the middle of a cell"
    assert exited.wait(2.0), "idle orphaned worker did not exit"


def test_launching_process_is_not_watched(monkeypatch):
    monkeypatch.setattr(orphans, "_watching", False)
    orphans.watch_parent()
    assert orphans._watching is False
