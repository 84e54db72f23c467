"""Every committed record is still found as the record of its cell under today's configs.

For each record under results/**/runs/, the cell is composed from the configs as a user would ask
for it (``method=<method>/<preset>``, its dataset, mechanism, rate and seed, plus an override for
each parameter a sweep varied away from the preset), and the identity computed from that composed
config must name the record's own file: a config change that would silently re-run (or orphan)
committed cells fails here.
"""
import json
from pathlib import Path

import pytest

from knewimp.harness.identity import cell_id, cell_identity
from knewimp.harness.sweep import _compose

ROOT = Path(__file__).resolve().parents[1]
RECORDS = sorted(p for p in (ROOT / "results").rglob("runs/*.json"))


def _override(key, value):
    return f"method.{key}={json.dumps(value)}"


@pytest.fixture(scope="module")
def composed():
    cache = {}

    def compose(method, preset, varied, protocol=()):
        key = (method, preset, varied, protocol)
        if key not in cache:
            identity = cell_identity(_compose([f"method={method}/{preset}", *varied, *protocol]))
            cache[key] = identity["params"], identity["protocol"]
        return cache[key]
    return compose


def test_there_are_committed_records():
    assert len(RECORDS) >= 1200


def test_every_committed_record_is_found_from_the_configs(composed):
    lost = []
    for path in RECORDS:
        rec = json.loads(path.read_text())
        base, _ = composed(rec["method"], rec["preset"], ())
        varied = tuple(sorted(_override(k, v) for k, v in rec["params"].items() if base.get(k, object()) != v))
        # protocol keys away from the defaults (e.g. the mixed tables' encoding), as a user would set them
        asked = tuple(f"++{k}={json.dumps(v)}" for k, v in sorted((rec.get("protocol") or {}).items()))
        params, protocol = composed(rec["method"], rec["preset"], varied, asked)
        identity = dict(dataset=rec["dataset"], mechanism=rec["mechanism"], missing_rate=rec["missing_rate"],
                        seed=rec["seed"], method=rec["method"], preset=rec["preset"], params=params,
                        protocol=protocol)
        if params != rec["params"] or cell_id(**identity) != path.stem or rec["cell_id"] != path.stem:
            lost.append(path.relative_to(ROOT).as_posix())
    assert not lost, f"{len(lost)} committed records no longer match their cell: {lost[:5]}"


def test_distinct_missing_rates_give_distinct_ids_and_committed_ids_are_unchanged():
    from knewimp.harness.identity import rate_text

    assert rate_text(0.3) == "0.3" and rate_text(0.3000001) == "0.3000001" and rate_text(1e-05) == "1e-05"
    rates = [0.3, 0.3000001, 0.30000000000000004, 0.1234567, 0.123457, 0.5, 1 / 3, 0.2999999]
    texts = [rate_text(r) for r in rates]
    assert len(set(texts)) == len(rates) and all(float(t) == r for t, r in zip(texts, rates))
    ids = {cell_id("bt", "mcar", r, 0, "mean", "published", {}) for r in rates}
    assert len(ids) == len(rates)
    committed = {json.loads(p.read_text())["missing_rate"] for p in RECORDS}
    assert all(f"{r:g}" == rate_text(r) for r in committed)  # the form every committed id was written with


def test_every_committed_record_passes_the_verifier():
    from knewimp.harness import records

    folders = sorted({p.parent.parent for p in RECORDS})
    damaged = [d for folder in folders for d in records.scan(folder)[1]]
    assert not damaged, damaged[:5]
