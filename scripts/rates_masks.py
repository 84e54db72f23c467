"""What each mechanism's mask is at every rate of the rates experiments, from the cells' own masks.

For every dataset x mechanism x rate (10% to 80%) x seed it draws the cell's mask exactly as the
harness does (knewimp.protocol.cell_input.make_cell_input) and keeps the realised missing rate, the
share of rows with no observed entry, the fewest observed entries of a column, and whether the mask
was refused (MaskError: it cannot be drawn as asked). Rendered by ``make tables`` into
``results/tables/experiments_rates_masks.md`` (knewimp.report.experiments.rates).

    python scripts/rates_masks.py --out results/rates/masks.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from knewimp.protocol.amputation import MaskError
from knewimp.protocol.cell_input import make_cell_input
from knewimp.vocab import DATASETS

RATES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: The paper's three mechanisms at the configs' options, and self-masked MNAR for comparison.
MECHANISMS = {"mcar": {}, "mar": {"p_obs": 0.5}, "mnar": {"p_params": 0.5}, "mnar_self": {}}


def _dumps(entries: list[dict]) -> str:
    """The file's text: one entry per line (small, and a changed mask shows as a changed line)."""
    body = ",\n".join(json.dumps(e, separators=(",", ":")) for e in entries)
    return '{"kind": "rates_masks", "entries": [\n' + body + "\n]}\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/rates/masks.json")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    entries = []
    for ds in DATASETS:
        for mech, options in MECHANISMS.items():
            for rate in RATES:
                for seed in range(args.seeds):
                    entry = {"dataset": ds, "mechanism": mech, "rate": rate, "seed": seed}
                    try:
                        _, mask = make_cell_input(ds, mech, rate, seed, download=False, mechanism_options=options)
                    except MaskError as exc:
                        entry.update(refused=str(exc))
                    else:
                        entry.update(refused=None, realised=float(mask.mean()),
                                     empty_rows=float(mask.all(axis=1).mean()),
                                     min_observed_in_a_column=int((~mask).sum(axis=0).min()))
                    entries.append(entry)
        print(f"{ds}: done", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dumps(entries))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
