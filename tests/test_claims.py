"""Counting where the reference is best or second best in each view of knewimp.report.views."""
from knewimp.report.claims import compute_claims, render_claims_markdown, view_columns
from knewimp.report.selection import Column, column_labels, columns_in
from knewimp.report.views import PAPER, PUBLISHED, VIEWS

REF = Column("knewimp", "paper")


def rec(ds, method, preset, seed, mae, mech="mcar", status="ok"):
    return dict(dataset=ds, mechanism=mech, seed=seed, method=method, preset=preset, status=status,
                mae=mae, wass=mae)


def view_records(view, values, seeds=3, mech="mcar"):
    """Records of every column of ``view`` on the blocks of ``values``: {dataset: {method: mae}}
    (a method not named gets 1.0)."""
    out = []
    for ds, by_method in values.items():
        for c in view.column_list():
            out += [rec(ds, c.method, c.preset, s, by_method.get(c.method, 1.0), mech) for s in range(seeds)]
    return out


def by_scope(claims, view, metric="mae"):
    return {c.scope: c for c in claims if c.view == view and c.metric == metric}


def test_every_view_has_its_fixed_columns_whatever_the_records_hold():
    views = view_columns([], REF)
    assert list(views) == [v.name for v in VIEWS]
    assert Column("tdm", "paper") in views["paper"] and Column("tdm", "published") in views["published"]
    assert Column("miwae", "cpu") in views["grid"] and Column("miwae", "cpu") not in views["paper"]
    assert all(REF in cols for cols in views.values())


def test_places_and_winners_in_a_complete_view():
    recs = view_records(PAPER, {"bt": {"knewimp": 0.5, "tdm": 0.4}, "cc": {"knewimp": 0.3}})
    paper = by_scope(compute_claims(recs, REF), "paper")["mcar"]
    assert paper.places == {("bt", "mcar"): 2, ("cc", "mcar"): 1} and paper.top2 == 2
    assert paper.winners == {("bt", "mcar"): Column("tdm", "paper")}
    text = render_claims_markdown(compute_claims(recs, REF), column_labels(columns_in(recs)), REF, 0.3)
    assert "| MAE | mcar | 2 | 1 | 1 | 2/2 (100%) | tdm: bt | 0 |" in text


def test_a_view_column_without_records_leaves_every_block_incomplete():
    recs = view_records(PAPER, {"bt": {"knewimp": 0.5}})
    recs = [r for r in recs if r["method"] != "miwae"]
    claims = by_scope(compute_claims(recs, REF), "paper")["mcar"]
    assert claims.places == {} and claims.incomplete == [("bt", "mcar")]


def test_blocks_with_fewer_seeds_than_the_fullest_are_not_counted():
    recs = view_records(PUBLISHED, {"bt": {"knewimp": 0.5}, "cc": {"knewimp": 0.5}})
    recs = [r for r in recs if not (r["dataset"] == "cc" and r["method"] == "gain" and r["seed"] == 2)]
    published = by_scope(compute_claims(recs, REF), "published")["mcar"]
    assert list(published.places) == [("bt", "mcar")] and published.incomplete == [("cc", "mcar")]
