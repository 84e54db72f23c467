"""records.scan_cache: inside a report build, scanning a folder again gives what a fresh scan gives
(records added, rewritten, damaged or removed since are seen), and no caller shares another's records."""
import json
import shutil
from pathlib import Path

from knewimp.harness import records

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "results" / "runs").glob("bt__mcar__r0.3__s[01]__mean__published__*.json"))


def _seeded(tmp_path, paths):
    runs = records.runs_dir(tmp_path)
    runs.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, runs)
    return runs


def _ids(results_dir):
    good, damaged = records.scan(results_dir)
    return sorted(r["cell_id"] for r in good), sorted(d.path.name for d in damaged)


def test_a_scan_in_the_cache_sees_every_change_since_the_last(tmp_path):
    first, second = COMMITTED
    runs = _seeded(tmp_path, [first])
    with records.scan_cache():
        assert _ids(tmp_path) == ([first.stem], [])
        shutil.copy(second, runs)                                    # a record written later
        assert _ids(tmp_path) == ([first.stem, second.stem], [])
        rewritten = dict(json.loads(first.read_text()), mae=123.0)  # rewritten as a writer does
        records.write_record(tmp_path, rewritten)
        assert {r["cell_id"]: r["mae"] for r in records.load_records(tmp_path)}[first.stem] == 123.0
        (runs / second.name).write_text('{"truncated": ')           # damaged in place
        assert _ids(tmp_path) == ([first.stem], [second.name])
        (runs / first.name).unlink()
        assert _ids(tmp_path) == ([], [second.name])
    assert records._SCAN_CACHE is None                               # nothing kept past the block


def test_a_cached_scan_equals_a_fresh_one_and_hands_out_records_of_its_own(tmp_path):
    runs = _seeded(tmp_path, COMMITTED)
    (runs / "bt__mcar__r0.3__s9__mean__published__0000000000.json").write_text("[]")
    fresh = records.scan(tmp_path)
    assert len(fresh[0]) == 2 and len(fresh[1]) == 1
    with records.scan_cache():
        read, kept = records.scan(tmp_path), records.scan(tmp_path)
        assert read == kept == fresh and len(records._SCAN_CACHE) == 3  # each file read once, then kept
        for scanned in (read, kept):
            scanned[0][0]["mae"] = -1.0                              # a caller changing its copy
            assert records.scan(tmp_path) == fresh
