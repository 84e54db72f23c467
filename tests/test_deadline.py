"""stop_at: cells that cannot finish before the deadline are held back, write nothing, run later."""
import datetime as dt

import pytest
from hydra import compose, initialize_config_dir

from knewimp.harness import records
from knewimp.harness.cell import UserError, run_cell
from knewimp.harness.identity import cell_id, cell_identity
from knewimp.harness.deadline import hold_reason, parse_stop_at
from knewimp.vocab import CONFIG_DIR

CONFIGS = CONFIG_DIR
UTC = dt.timezone.utc


def test_parse_keeps_a_zone_and_reads_a_naive_time_as_local():
    assert parse_stop_at("2026-11-27T04:40+00:00") == dt.datetime(2026, 11, 27, 4, 40, tzinfo=UTC)
    local = parse_stop_at("2026-11-27T04:40")
    assert local.tzinfo is not None and local.replace(tzinfo=None) == dt.datetime(2026, 11, 27, 4, 40)
    assert parse_stop_at(None) is None and parse_stop_at("") is None


@pytest.mark.parametrize("bad", ["tomorrow", "04:40", "2026-11-27", "2026-13-01T00:00"])
def test_parse_rejects_what_is_not_a_date_and_time(bad):
    with pytest.raises(ValueError, match=r"stop_at must be an ISO 8601 date and time such as .*got '"):
        parse_stop_at(bad)


def test_hold_reason_weighs_the_estimate_against_the_time_left():
    stop = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    now = stop - dt.timedelta(minutes=10)
    assert hold_reason(stop, 60.0, now) is None
    assert hold_reason(stop, None, now) is None
    assert "estimated 900s, but only 600s left" in hold_reason(stop, 900.0, now)
    assert "past stop_at" in hold_reason(stop, None, stop)
    assert "past stop_at" in hold_reason(stop, 1.0, stop + dt.timedelta(seconds=1))


@pytest.fixture
def compose_cell():
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield lambda *overrides: compose(config_name="config", overrides=list(overrides))


def _fake_record(results_dir, cfg, seconds):
    """A record of a cell that took ``seconds``: the cost model's evidence for that column."""
    identity = cell_identity(cfg)
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    rec = dict(cell_id=cell_id(**identity), **identity, status="ok", mae=0.5, rmse=0.7, wass=0.1, fit_seconds=seconds,
               started_at=start.isoformat(), finished_at=(start + dt.timedelta(seconds=seconds)).isoformat())
    records.write_record(results_dir, rec)


def test_a_cell_estimated_to_overrun_is_held_and_writes_nothing(tmp_path, compose_cell):
    soon = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat(timespec="seconds")
    _fake_record(tmp_path, compose_cell("dataset=pk", "method=mean/published", f"results_dir={tmp_path}"), 5 * 3600.0)
    cfg = compose_cell("dataset=bt", "method=mean/published", f"results_dir={tmp_path}", f"stop_at={soon}")
    out = run_cell(cfg)
    assert out["status"] == "not_started" and "estimated" in out["error"]
    assert len(records.load_records(tmp_path)) == 1
    # with room to spare the same cell runs
    later = (dt.datetime.now(UTC) + dt.timedelta(hours=6)).isoformat(timespec="seconds")
    ran = run_cell(compose_cell("dataset=bt", "method=mean/published", f"results_dir={tmp_path}", f"stop_at={later}"))
    assert ran["status"] == "ok" and len(records.load_records(tmp_path)) == 2


def test_a_bad_stop_at_is_a_user_error(tmp_path, compose_cell):
    with pytest.raises(UserError, match="stop_at must be"):
        run_cell(compose_cell("dataset=bt", "method=mean/published", f"results_dir={tmp_path}", "stop_at=soon"))


def test_a_duration_counts_from_the_launch():
    launch = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_stop_at("+10m", now=launch) == launch + dt.timedelta(minutes=10)
    assert parse_stop_at("+1h30m", now=launch) == launch + dt.timedelta(minutes=90)
    assert parse_stop_at("+45s", now=launch) == launch + dt.timedelta(seconds=45)
    with pytest.raises(ValueError, match="stop_at must be"):
        parse_stop_at("+", now=launch)


def test_the_launch_window_schedules_the_estimates_on_the_workers():
    from knewimp.harness.deadline import launch_window

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    stop = now + dt.timedelta(seconds=100)
    # one worker: 40 + 40 start by 80; the third would start at 80 < 100, the fourth cannot fit at all
    assert launch_window([40, 40, 30, 500, 10], stop, 1, now) == [True, True, True, False, False]
    # two workers share the cells; None (no estimate at all) only has to start before the deadline
    assert launch_window([90, 90, None, 5], stop, 2, now) == [True, True, True, True]
    assert launch_window([10, 10], now - dt.timedelta(seconds=1), 2, now) == [False, False]


def test_a_cell_with_no_estimate_of_its_own_is_weighed_at_its_methods_median(tmp_path, compose_cell, monkeypatch):
    import knewimp.harness.cost as cost

    monkeypatch.setattr(cost, "prior_timings", lambda *a, **k: ([], ""))  # nothing committed to borrow from
    soon = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat(timespec="seconds")
    # the method's only column (another preset) takes 5 h: a preset never run is held an hour ahead
    other = compose_cell("dataset=pk", "method=mice/single", f"results_dir={tmp_path}")
    _fake_record(tmp_path, other, 5 * 3600.0)
    out = run_cell(compose_cell("dataset=pk", "method=mice/paper", f"results_dir={tmp_path}",
                                f"stop_at={soon}"))
    assert out["status"] == "not_started" and "estimated 18001s" in out["error"]


def test_a_cell_is_weighed_at_its_rows_and_under_its_time_cap(tmp_path, compose_cell):
    """The cell weighs what the launch weighed: a subsample costs what its size measured, not the
    whole table, and a fit with a time cap at most the cap."""
    soon = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat(timespec="seconds")
    base = ["dataset=budgetfood", "method=mean/published", f"results_dir={tmp_path}"]
    _fake_record(tmp_path, compose_cell(*base), 5 * 3600.0)  # the whole table: 5 h
    _fake_record(tmp_path, compose_cell(*base, "n_rows=300"), 60.0)
    assert run_cell(compose_cell(*base, "n_rows=300", "seed=1", f"stop_at={soon}"))["status"] == "ok"
    # the whole table is held an hour ahead, unless a time cap stops its fit well before then
    held = run_cell(compose_cell(*base, "seed=1", f"stop_at={soon}"))
    assert held["status"] == "not_started" and "estimated 18001s" in held["error"]
    capped = run_cell(compose_cell(*base, "seed=1", "time_cap_s=600", f"stop_at={soon}"))
    assert capped["status"] == "ok"
