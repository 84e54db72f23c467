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
