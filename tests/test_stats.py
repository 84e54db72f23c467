"""Statistics checked against hand computations and textbook values (Demsar 2006, JMLR 7)."""
import numpy as np
import pytest
from scipy import stats as st

from knewimp.report import stats

# 14 blocks x 4 methods, rows are rankings whose mean ranks are Demsar's (2006, section 3.2.2)
# worked example: 3.143, 2.000, 2.893, 1.964 -> chi2_F = 9.28, F_F = 3.69, CD(0.05) = 1.25.
DEMSAR_RANKS = [[3, 1, 4, 2], [2, 3, 4, 1], [4, 1, 2, 3], [3, 1, 4, 2], [4, 2, 3, 1], [3, 4, 2, 1],
                [4, 3, 1, 2], [3, 1, 4, 2], [1, 2, 4, 3], [4, 2, 1, 3], [2, 1, 4, 3], [4, 1, 3, 2],
                [4, 2, 3, 1], [3, 4, 1.5, 1.5]]


def test_nemenyi_q_matches_demsar_table():
    assert stats.nemenyi_q(4) == pytest.approx(2.569, abs=1e-3)
    assert stats.nemenyi_q(2) == pytest.approx(1.960, abs=1e-3)
    assert stats.nemenyi_q(10) == pytest.approx(3.164, abs=1e-3)
    assert stats.nemenyi_q(4, alpha=0.10) == pytest.approx(2.291, abs=1e-3)


def test_nemenyi_cd_textbook_value():
    assert stats.nemenyi_cd(4, 14) == pytest.approx(2.569 * np.sqrt(20 / 84), abs=1e-3)
    assert stats.nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.01)


def test_friedman_demsar_example():
    res = stats.friedman_nemenyi(DEMSAR_RANKS)
    np.testing.assert_allclose(res.avg_ranks, [3.143, 2.000, 2.893, 1.964], atol=1e-3)
    assert res.chi2 == pytest.approx(9.28, abs=0.01)
    assert res.iman_davenport_f == pytest.approx(3.69, abs=0.01)
    assert res.cd == pytest.approx(1.25, abs=0.01)
    assert res.p_f < 0.05 and (res.k, res.n_blocks) == (4, 14)


def test_friedman_matches_scipy_without_ties():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 5)) + np.arange(5) * 0.3
    res = stats.friedman_nemenyi(X)
    ref = st.friedmanchisquare(*X.T)
    assert res.chi2 == pytest.approx(ref.statistic)
    assert res.p_chi2 == pytest.approx(ref.pvalue)


def test_average_ranks_ties_and_lower_is_better():
    vals = [[0.1, 0.3, 0.3, 0.9],
            [0.5, 0.2, 0.4, 0.6]]
    np.testing.assert_allclose(stats.rank_matrix(vals), [[1, 2.5, 2.5, 4], [3, 1, 2, 4]])
    np.testing.assert_allclose(stats.average_ranks(vals), [2, 1.75, 2.25, 4])
    with pytest.raises(ValueError, match="NaN"):
        stats.average_ranks([[0.1, np.nan]])


def test_holm_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = stats.holm([0.02, np.nan, 0.01])      # NaN not counted: m = 2
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.02])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1


def test_paired_ttest_hand_computation():
    a = np.array([0.40, 0.41, 0.42, 0.43, 0.44])
    b = a + np.array([0.10, 0.11, 0.09, 0.12, 0.08])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    assert stats.paired_ttest(a, b) == pytest.approx(st.t.cdf(t, d.size - 1))
    assert stats.paired_ttest(a, b) < 1e-4
    assert stats.paired_ttest(b, a) > 0.99                      # wrong direction: not significant
    assert stats.paired_ttest(a, b, "two-sided") == pytest.approx(2 * st.t.cdf(t, d.size - 1))
    assert stats.paired_ttest(a, a) == 1.0                      # equal values: no evidence
    assert stats.paired_ttest(a, a - 0.1) == 1.0                # constant difference, wrong side
    assert stats.paired_ttest(a, a + 0.1) == 0.0                # constant difference, right side
    assert np.isnan(stats.paired_ttest([0.1], [0.2]))           # one pair: undefined
    with pytest.raises(ValueError, match="alternative"):
        stats.paired_ttest(a, b, "lower")


def test_wilcoxon_exact_small_sample():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert stats.wilcoxon_signed_rank(a, a + [1, 2, 3, 4, 5]) == pytest.approx(1 / 32)
    assert stats.wilcoxon_signed_rank(a, a) == 1.0
    assert stats.wilcoxon_signed_rank(a + [1, 2, 3, 4, 5], a) == pytest.approx(1.0)


def test_complete_blocks_drops_the_sparser_side():
    nan = np.nan
    M = np.array([[1.0, 2.0, 3.0],
                  [1.0, 2.0, nan],
                  [1.0, 2.0, nan],
                  [1.0, nan, 3.0]])
    rows, cols = stats.complete_blocks(M)
    # column 2 misses 2/4 of blocks, block 3 misses 1/3 of methods: drop column 2, then block 3
    assert cols.tolist() == [True, True, False]
    assert rows.tolist() == [True, True, True, False]
    rows, cols = stats.complete_blocks(np.array([[nan, nan], [nan, nan]]))
    assert not rows.any() and not cols.any()


def test_cliques():
    assert stats.cliques([1.0, 1.5, 3.0, 4.0], cd=1.0) == [(0, 1)]
    assert stats.cliques([4.0, 3.0, 1.5, 1.0], cd=1.6) == [(0, 1), (1, 2), (2, 3)]
    assert stats.cliques([1.0, 2.0, 3.0], cd=5.0) == [(0, 2)]


def test_bad_input_messages():
    with pytest.raises(ValueError, match="k=1"):
        stats.nemenyi_q(1)
    with pytest.raises(ValueError, match="alpha=1.5"):
        stats.nemenyi_q(3, alpha=1.5)
    with pytest.raises(ValueError, match="equal length"):
        stats.paired_ttest([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="k=1"):
        stats.friedman_nemenyi([[1.0], [2.0]])
