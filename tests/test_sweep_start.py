"""A sweep starts at once: planned once before Hydra starts, against a deadline counted from the
launch, with the committed records as the prior of a fresh results folder."""
import json
import datetime as dt

from knewimp.harness.run import prepare
from knewimp.harness.status import grid_status
from knewimp.harness.sweep import PREPARED

SWEEP = ["-m", "dataset=bt,pk", "mechanism=mcar,mar", "method=mean/published,mice/single", "seed=0"]


def test_a_duration_becomes_one_deadline_and_the_plan_is_handed_to_the_callback(tmp_path):
    launch = dt.datetime(2030, 1, 1, 12, 0)
    argv, done = prepare([*SWEEP, f"results_dir={tmp_path}", "stop_at=+3h", f"hydra.sweep.dir={tmp_path}/s"],
                         now=launch)
    assert done is None
    stop = [a for a in argv if a.startswith("stop_at=")]
    assert stop == [f"stop_at={(launch.astimezone() + dt.timedelta(hours=3)).isoformat(timespec='seconds')}"]
    plan = PREPARED.pop(f"{tmp_path}/s")
    # a fresh folder: every cell estimated from the committed records of its column
    assert len(plan) == 8 and all(s is not None and s > 0 for s in plan.values())


def test_nothing_is_launched_when_no_cell_fits_before_the_deadline(tmp_path):
    argv, done = prepare([*SWEEP, f"results_dir={tmp_path}", "stop_at=+0s"])
    assert done is not None and "8 to run, none of which the estimates let start before stop_at" in done


def test_a_deadline_launches_only_the_cells_the_estimates_let_start(tmp_path, capsys):
    launch = dt.datetime(2030, 1, 1, 12, 0).astimezone()
    args = [*SWEEP, f"results_dir={tmp_path}", f"hydra.sweep.dir={tmp_path}/s"]
    prepare([*args, "stop_at=+3h"], now=launch.replace(tzinfo=None))
    estimates = list(PREPARED.pop(f"{tmp_path}/s").values())
    # one worker (the basic launcher), time for the first two cells and a start of the third
    stop = launch + dt.timedelta(seconds=sum(estimates[:2]) + 0.5)
    argv, done = prepare([*args, f"stop_at={stop.isoformat()}"], now=launch.replace(tzinfo=None))
    assert done is None
    plan = PREPARED.pop(f"{tmp_path}/s")
    assert 2 <= len(plan) <= 3
    assert f"{8 - len(plan)} left for a later launch" in capsys.readouterr().err


def test_status_of_a_fresh_folder_estimates_from_the_committed_records(tmp_path):
    report, counts = grid_status("quick", tmp_path)
    assert "estimated compute left:" in report and "no record to estimate from" not in report


def test_an_expansion_is_cached_on_disk_by_what_it_depends_on(tmp_path, monkeypatch):
    from knewimp.harness import sweep

    monkeypatch.setenv("KNEWIMP_CACHE_DIR", str(tmp_path))
    sweep._expand_cached.cache_clear()
    fresh = sweep._expand("quick", ())
    assert sweep.expected_cells("quick") == fresh
    (path,) = (tmp_path / "expansions").glob("quick-*.json")
    assert path.stem == f"quick-{sweep._expansion_digest('quick', ())}"
    assert sweep._expansion_digest("quick", ("seed=1",)) != sweep._expansion_digest("quick", ())
    # a damaged cache file is recomputed and replaced, never trusted
    path.write_text("[1, 2")
    sweep._expand_cached.cache_clear()
    assert sweep.expected_cells("quick") == fresh and json.loads(path.read_text()) == fresh
    sweep._expand_cached.cache_clear()
