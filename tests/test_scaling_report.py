"""The scaling report ranks the paper view's columns under both protocols, block by block."""
from knewimp.report.experiments.scaling import scaling_report


def rec(ds, method, preset, seed, mae):
    return dict(dataset=ds, mechanism="mnar", missing_rate=0.3, seed=seed, method=method, preset=preset,
                status="ok", mae=mae, wass=mae)


def test_rank_changes_are_counted_and_short_columns_named(tmp_path):
    default = [rec(ds, m, p, s, v) for s in range(2) for ds, m, p, v in
               (("bt", "knewimp", "paper", 0.3), ("bt", "tdm", "paper", 0.5), ("bt", "gain", "paper", 0.6),
                ("pk", "knewimp", "paper", 0.3), ("pk", "tdm", "paper", 0.5))]
    observed = [rec(ds, m, p, s, v) for s in range(2) for ds, m, p, v in
                (("bt", "knewimp", "paper", 0.7), ("bt", "tdm", "paper", 0.5), ("bt", "gain", "paper", 0.6),
                 ("pk", "knewimp", "paper", 0.3), ("pk", "tdm", "paper", 0.5), ("pk", "gain", "paper", 0.1))]
    md, csv = scaling_report(default, observed, tmp_path)
    text = md.read_text()
    # bt: knewimp 1 -> 3, tdm 2 -> 1, gain 3 -> 2 in both metrics: 6 changes; pk (gain has no default run): none
    assert "Compared: 2 blocks, 10 (block, column, metric) ranks; 6 change; the MAE winner changes in 1 of 2" in text
    assert "gain/paper on pk/mnar" in text
    assert "| bt/mnar | MAE | knewimp/paper | 0.300 | 0.700 | 1 | 3 **changed** |" in text
    assert csv.read_text().count("\n") == 11


def test_no_observed_records_writes_nothing(tmp_path):
    assert scaling_report([rec("bt", "knewimp", "paper", 0, 0.3)], [], tmp_path) == []
