"""Every experiment expands to distinct cells.

Apart from tests/test_configs.py on purpose: that module holds one Hydra context open for its
composes, and inside a context an expansion is composed afresh; out here it comes from the
expansion cache (knewimp.harness.sweep._expand_cached), keyed by every config file's bytes and the
code that expands, so a changed config is composed again and an unchanged one costs nothing."""
import pytest

from knewimp import vocab
from knewimp.harness.run import valid_choices
from knewimp.harness.sweep import expected_cells

CONFIGS = vocab.CONFIG_DIR
EXPERIMENTS = valid_choices("experiment")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_expands_to_distinct_cells(experiment):
    cells = expected_cells(experiment)
    assert cells, "experiments are sweeps"
    from knewimp.harness.identity import cell_id

    assert len({cell_id(**c) for c in cells}) == len(cells)
    assert all(c["preset"] not in vocab.TEST_PRESETS for c in cells) or experiment == "quick"


def test_the_grid_names_each_methods_preset_in_its_own_file():
    text = (CONFIGS / "experiment" / "reproduce.yaml").read_text()
    presets = {(c["method"], c["preset"]) for c in expected_cells("reproduce")}
    assert len(presets) == 8 and all(f"{m}/{p}" in text for m, p in presets)


def test_the_makefile_comments_count_each_targets_cells():
    """A typed "N cells" in the Makefile's help names the cells its target's experiments expand to."""
    import re

    from knewimp.harness.targets import TARGETS

    help_lines = [line for line in (CONFIGS.parent / "Makefile").read_text().splitlines() if line.startswith("#")]
    claims, target = {}, None
    for line in help_lines:
        named = re.match(r"#\s+make ([\w-]+)\s", line)
        target = named.group(1) if named else target
        for count in re.findall(r"(\d[\d,]*) cells", line):
            claims.setdefault(target, []).append(int(count.replace(",", "")))
    assert len(claims) >= 8, claims
    for target, counts in claims.items():
        total = sum(len(expected_cells(e)) for e in TARGETS[target])
        assert counts == [total], f"Makefile help: make {target} says {counts} cells; its experiments expand to {total}"
