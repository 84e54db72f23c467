"""The views (knewimp.report.views) and each column's standing in them (knewimp.report.standings)."""
import pytest

from knewimp.report.headline import render_headline, render_views, standings
from knewimp.report.selection import Column
from knewimp.report.standings import standing
from knewimp.report.views import GRID, PAPER, PUBLISHED, VIEWS, stand_in_label, view
from knewimp.report.claims import compute_claims
from test_claims import REF, rec, view_records


def test_views_are_named_once_and_the_paper_view_runs_every_baseline_at_its_paper_preset():
    assert [v.name for v in VIEWS] == ["paper", "published", "grid"]
    assert all(c.preset == "paper" for c in PAPER.columns if c.method not in ("sinkhorn",))
    assert view("grid") is GRID
    with pytest.raises(KeyError, match="not one of"):
        view("faithful")


def test_a_stand_in_is_labelled_with_what_it_cuts_never_as_published():
    label = stand_in_label("csdi_t", "cpu")
    assert label.startswith("the published network, ") and "epochs 120 of 500" in label
    described = PUBLISHED.describe(Column("csdi_t", "cpu"))
    assert described.startswith("`cpu`: the published network") and "n_samples 10 of 100" in described
    assert "n_epochs 150 of 601" in GRID.describe(Column("miwae", "cpu"))


def test_standing_ranks_counts_and_head_to_head_over_complete_blocks():
    # knewimp lowest on bt (by a varying margin: significant), tdm lowest on cc and is
    values = {"bt": {"knewimp": 0.3, "tdm": 0.5}, "cc": {"knewimp": 0.6, "tdm": 0.4},
              "is": {"knewimp": 0.6, "tdm": 0.2}}
    recs = view_records(PAPER, values, seeds=4)
    for r in recs:  # seed noise so the paired t-test has a spread
        r["mae"] = r["wass"] = r["mae"] + 0.01 * r["seed"] * (r["method"] == "knewimp")
    st = standing(recs, PAPER, REF)
    assert len(st.complete) == 3 and st.strongest == Column("tdm", "paper")
    assert st.top.column == Column("tdm", "paper")
    assert st.of(REF).best["mae"] == 1 and st.of(REF).top2["mae"] == 3
    assert st.of(Column("tdm", "paper")).avg_rank["mae"] == pytest.approx((2 + 1 + 1) / 3)
    h = st.head_to_head["mae"]
    assert (h.blocks, h.ref_lower, h.other_lower) == (3, 1, 2)
    assert h.ref_lower_significant == 1 and h.other_lower_significant == 2
    text = render_headline([st], recs)
    assert "tdm/paper ranks first" in text and "KnewImp lower in 1 of 3 (1 significant)" in text


def test_an_unfinished_column_is_shown_with_its_progress_not_hidden():
    recs = view_records(PUBLISHED, {"bt": {}, "cc": {}})
    recs = [r for r in recs if not (r["method"] == "miwae" and r["dataset"] == "cc")]
    recs = [r for r in recs if r["method"] != "miracle"]
    st = standing(recs, PUBLISHED, REF)
    assert st.complete == [] and st.top is None and st.strongest is None
    assert {(c.column.method, c.full_blocks) for c in st.waiting} == {("miwae", 1), ("miracle", 0)}
    text = render_views(standings(recs, REF), 0.3)
    assert "no block complete yet; miwae/published 1 of 2 blocks, miracle/published 0 of 2 blocks" in text
    assert "| miracle/published | `published` | 0 of 2 | 0 | -- | -- | -- | -- | -- | -- |" in text


def test_a_failed_cell_scores_as_the_mean_imputers_record_of_the_same_cell():
    # tdm fails one seed on bt: without a convention bt could never be complete; with it, that seed
    # scores as mean imputation there (1.0), so tdm loses bt's rank it would otherwise have won
    values = {"bt": {"knewimp": 0.3, "tdm": 0.2, "mean": 1.0}, "cc": {"knewimp": 0.6, "tdm": 0.4, "mean": 1.0}}
    recs = view_records(PAPER, values, seeds=3)
    recs += [rec(ds, "mean", "published", s, 1.0) for ds in values for s in range(3)]
    failed = next(r for r in recs if (r["dataset"], r["method"], r["seed"]) == ("bt", "tdm", 1))
    failed.update(status="failed", mae=None, wass=None, error="ImputationError: out of range")
    st = standing(recs, PAPER, REF)
    assert len(st.complete) == 2 and st.of(Column("tdm", "paper")).scored_as_fallback == 1
    assert st.of(REF).best["mae"] == 1  # bt: tdm's mean is (0.2 + 1.0 + 0.2) / 3 > 0.3
    assert st.of(Column("gain", "paper")).scored_as_fallback == 0
    text = render_headline([st], recs)
    assert "Failed cells, each scored as `mean/published` on the same cell" in text and "tdm/paper 1." in text
    claims = {(c.scope, c.metric): c for c in compute_claims(recs, REF) if c.view == "paper"}
    assert not claims[("all", "mae")].incomplete and claims[("all", "mae")].places[("bt", "mcar")] == 1
    # a failed cell with no record of the mean imputer on it stays failed: the block waits
    no_mean = [r for r in recs if not (r["method"] == "mean" and r["dataset"] == "bt")]
    assert standing(no_mean, PAPER, REF).complete == [("cc", "mcar")]
