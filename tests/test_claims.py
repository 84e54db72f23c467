"""Counting where the reference is best or second best, with the grid's presets and faithful ones."""
import json
import runpy
from pathlib import Path

from knewimp.report.claims import compute_claims, render_claims_markdown, view_columns
from knewimp.report.selection import Column, column_labels, columns_in

REF = Column("knewimp", "paper")


def rec(ds, method, preset, seed, mae, mech="mcar", status="ok"):
    return dict(dataset=ds, mechanism=mech, seed=seed, method=method, preset=preset, status=status,
                mae=mae, wass=mae)


def records():
    out = []
    for s in range(3):
        out += [rec("bt", "knewimp", "paper", s, 0.5), rec("cc", "knewimp", "paper", s, 0.3),
                rec("bt", "mice", "single", s, 0.4), rec("cc", "mice", "single", s, 0.35),
                rec("bt", "tdm", "paper", s, 0.8), rec("cc", "tdm", "paper", s, 0.8)]
    for s in range(3):  # as many ok records as the paper preset: the grid view keeps `paper` on the tie
        out += [rec("bt", "tdm", "published", s, 0.45), rec("cc", "tdm", "published", s, 0.2)]
    out.append(rec("bt", "tdm", "published", 3, None, status="failed"))
    return out


def by_scope(claims, view, metric="mae"):
    return {c.scope: c for c in claims if c.view == view and c.metric == metric}


def test_views_take_the_grid_preset_and_published_where_run():
    views = view_columns(records(), REF)
    assert Column("tdm", "paper") in views["grid"] and Column("tdm", "published") not in views["grid"]
    assert Column("tdm", "published") in views["faithful"] and Column("tdm", "paper") not in views["faithful"]
    assert REF in views["faithful"]
    assert views["paper_faithful"] == [REF, Column("tdm", "published")]  # no MICE, as in the paper's table


def test_places_and_winners_in_each_view():
    claims = compute_claims(records(), REF)
    grid = by_scope(claims, "grid")["mcar"]
    assert grid.places == {("bt", "mcar"): 2, ("cc", "mcar"): 1} and grid.top2 == 2
    assert grid.winners == {("bt", "mcar"): Column("mice", "single")}
    faithful = by_scope(claims, "faithful")["mcar"]
    assert faithful.places == {("bt", "mcar"): 3, ("cc", "mcar"): 2} and faithful.top2 == 1
    assert faithful.winners[("cc", "mcar")] == Column("tdm", "published")
    labels = column_labels(columns_in(records()))
    text = render_claims_markdown(claims, labels, REF, 0.3)
    assert "| MAE | mcar | 2 | 0 | 1 | 1/2 (50%) | mice: bt; tdm (published): cc | 0 |" in text


def test_blocks_without_every_column_are_not_counted():
    recs = [r for r in records() if r["preset"] != "published"]
    recs += [rec("bt", "mean", "published", s, 0.9) for s in range(3)]
    recs += [rec("cc", "mean", "published", 0, 0.9, status="failed")]
    claims = compute_claims(recs, REF)
    assert {c.view for c in claims} == {"paper", "grid"}  # no published baseline run: no faithful views
    grid = by_scope(claims, "grid")["all"]
    assert list(grid.places) == [("bt", "mcar")] and grid.incomplete == [("cc", "mcar")]


def test_paper_view_leaves_out_methods_the_paper_did_not_compare():
    views = view_columns(records(), REF)
    assert [c.method for c in views["paper"]] == ["knewimp", "tdm"]
    claims = compute_claims(records(), REF)
    assert by_scope(claims, "paper")["mcar"].places == {("bt", "mcar"): 1, ("cc", "mcar"): 1}
    paper_faithful = by_scope(claims, "paper_faithful")["mcar"]
    assert paper_faithful.places == {("bt", "mcar"): 2, ("cc", "mcar"): 2}
    assert paper_faithful.winners == {("bt", "mcar"): Column("tdm", "published"),
                                      ("cc", "mcar"): Column("tdm", "published")}


def test_blocks_with_fewer_seeds_than_the_fullest_are_not_counted():
    recs = [r for r in records() if r["preset"] != "published"]
    recs = [r for r in recs if not (r["dataset"] == "cc" and r["method"] == "mice" and r["seed"] == 2)]
    grid = by_scope(compute_claims(recs, REF), "grid")["mcar"]
    assert list(grid.places) == [("bt", "mcar")] and grid.incomplete == [("cc", "mcar")]


def test_a_mechanism_the_published_runs_have_not_reached_is_incomplete():
    recs = records()
    for s in range(3):
        recs += [rec("bt", m, p, s, v, mech="mnar")
                 for m, p, v in (("knewimp", "paper", 0.5), ("mice", "single", 0.4), ("tdm", "paper", 0.8))]
    claims = compute_claims(recs, REF)
    faithful = by_scope(claims, "faithful")
    assert faithful["mnar"].places == {} and faithful["mnar"].incomplete == [("bt", "mnar")]
    assert Column("tdm", "published") in faithful["mnar"].columns
    assert by_scope(claims, "grid")["mnar"].places == {("bt", "mnar"): 2}
    assert faithful["mcar"].places == {("bt", "mcar"): 3, ("cc", "mcar"): 2}


def test_same_block_script_counts_every_view_on_the_faithful_blocks(tmp_path):
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "claims_same_blocks.py"))
    (tmp_path / "runs").mkdir()
    recs = records() + [rec("is", m, p, s, v) for s in range(3)
                        for m, p, v in (("knewimp", "paper", 0.3), ("mice", "single", 0.2), ("tdm", "paper", 0.9))]
    for i, r in enumerate(recs):  # is has no published TDM: complete in `grid`, not in `faithful`
        (tmp_path / "runs" / f"c{i}.json").write_text(json.dumps({**r, "missing_rate": 0.3, "cell_id": f"c{i}"}))
    text = script["same_block_counts"](str(tmp_path))
    assert text.startswith("2 blocks complete in view faithful: bt/mcar, cc/mcar")
    assert "| grid | MAE | 1 | 1 | 2/2 | mice |" in text
    assert "| faithful | MAE | 0 | 1 | 1/2 | mice, tdm (published) |" in text
