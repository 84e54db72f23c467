"""The cell identity is the composed config minus an explicit list of keys that cannot change a result."""
import pytest

from knewimp.harness.identity import (NAMED_KEYS, NON_RESULT_KEYS, PROTOCOL_KEYS, _under, cell_id, cell_identity,
                                      composed_keys)
from knewimp.harness.run import valid_choices
from knewimp.harness.sweep import _compose, sweep_cells


def _composed_keys(overrides):
    return set(composed_keys(_compose(overrides)))


CONFIGS = [[], *([f"experiment={e}"] for e in valid_choices("experiment")),
           *([f"mechanism={m}"] for m in valid_choices("mechanism")),
           *([f"logger={lg}"] for lg in valid_choices("logger"))]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: " ".join(o) or "default")
def test_every_composed_key_is_classified(overrides):
    """A new config key must be argued into NON_RESULT_KEYS (it cannot change a result) or listed as
    identity (NAMED_KEYS, PROTOCOL_KEYS); it is part of the identity either way until then."""
    unclassified = [k for k in _composed_keys(overrides)
                    if not _under(k, NAMED_KEYS) and not _under(k, NON_RESULT_KEYS) and not _under(k, PROTOCOL_KEYS)]
    assert not unclassified, f"composed keys in neither list: {unclassified}"


def test_defaults_keep_the_ids_of_committed_records():
    # the id the issue quotes for this cell, from before mechanism options were part of it
    assert cell_id(**cell_identity(_compose(["mechanism=mar"]))) == "bt__mar__r0.3__s0__mean__published__44136fa355"
    assert cell_identity(_compose(["mechanism=mar", "mechanism.options.p_obs=0.5"]))["protocol"] == {}
    assert cell_identity(_compose(["mechanism=mar", "scaling=complete"]))["protocol"] == {}


@pytest.mark.parametrize("override", ["mechanism.options.p_obs=0.3", "mechanism.options.p_obs=0.7", "wass_max_rows=500",
                                      "scaling=observed", "+new_key=1"])
def test_options_that_change_a_result_change_the_id(override):
    base = cell_identity(_compose(["mechanism=mar"]))
    other = cell_identity(_compose(["mechanism=mar", override]))
    assert other["protocol"] and cell_id(**other) != cell_id(**base)


def test_keys_that_cannot_change_a_result_keep_the_id(tmp_path):
    base = cell_id(**cell_identity(_compose(["mechanism=mar"])))
    for override in (f"results_dir={tmp_path}", "threads=4", "device=cpu", "force=true", "logger=wandb",
                     "stop_at=2030-01-01T00:00", "download=false", f"data_dir={tmp_path}"):
        assert cell_id(**cell_identity(_compose(["mechanism=mar", override]))) == base, override


def test_a_sweep_over_mechanism_options_expands_to_distinct_cells():
    cells = sweep_cells(_compose, ["mechanism=mar"], {"mechanism.options.p_obs": ["0.3", "0.7"], "seed": ["0", "1"]})
    assert len({cell_id(**c) for c in cells}) == 4
    mixed = sweep_cells(_compose, [], {"mechanism": ["mcar", "mar"]})
    assert [c["protocol"] for c in mixed] == [{}, {}]
