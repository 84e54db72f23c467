"""`make tables` rebuilds the committed tables, figures, README and docs/results.md byte for byte
from the committed records: no generated file was edited by hand, and none is stale."""
import fcntl
from pathlib import Path

import pytest

from knewimp.report.build import build, documents

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, worker_id):
    # one build for the whole run: under pytest-xdist the module's tests land on several workers,
    # and each would otherwise rebuild every table; the workers share the base folder's parent
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    out = shared / "rebuilt"
    with open(shared / "rebuilt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "rebuilt.done").exists():
            build(ROOT / "results", out=out, jobs=2, log=lambda *a: None)
            (shared / "rebuilt.done").touch()
    return out


@pytest.mark.parametrize("folder", ["tables", "figures"])
def test_generated_folders_match_the_committed_ones(rebuilt, folder):
    committed = {p.name: p.read_bytes() for p in (ROOT / "results" / folder).iterdir() if p.is_file()}
    fresh = {p.name: p.read_bytes() for p in (rebuilt / folder).iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(committed), "files added or missing: run `make tables`"
    stale = sorted(name for name in committed if committed[name] != fresh[name])
    assert not stale, f"stale or hand-edited: {stale}; run `make tables`"


@pytest.mark.parametrize("doc", documents())
def test_documents_hold_the_generated_numbers(rebuilt, doc):
    assert (rebuilt / doc).read_text() == (ROOT / doc).read_text(), f"{doc} is stale: run `make tables`"
