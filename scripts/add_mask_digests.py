"""Add ``mask_digest`` to run records written before records carried it.

A record's mask depends only on (dataset, mechanism and its options, missing rate, seed), so it is
recomputed from the raw data (KNEWIMP_DATA_DIR) exactly as the harness draws it
(:func:`knewimp.protocol.cell_input.make_cell_input`). Before a record is touched the recomputed
mask must reproduce what the record says about it (n, d and the realised missing rate, to the
bit); the record is then rewritten with the one new field and every other byte unchanged (the
script checks that re-serialising the old record reproduces its file exactly, and refuses
otherwise). Records that already carry a digest are checked against the recomputed one.

    KNEWIMP_DATA_DIR=... python scripts/add_mask_digests.py results results/quick results/ablation
    KNEWIMP_DATA_DIR=... python scripts/add_mask_digests.py --check results     # change nothing
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omegaconf import OmegaConf  # noqa: E402

from knewimp.harness.records import runs_dir  # noqa: E402
from knewimp.protocol.cell_input import make_cell_input, mask_digest  # noqa: E402
from knewimp.vocab import CONFIG_DIR  # noqa: E402


def serialise(record: dict) -> str:
    """A record's file content, as :func:`knewimp.harness.records.write_record` writes it."""
    return json.dumps(record, indent=1, sort_keys=True, allow_nan=False, default=str) + "\n"


def mechanism_options(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "mechanism" / f"{name}.yaml").options, resolve=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results_dirs", nargs="+", help="folders holding runs/")
    ap.add_argument("--check", action="store_true", help="verify only; write nothing")
    args = ap.parse_args(argv)
    digests: dict[tuple, tuple[str, int, int, float]] = {}
    added = checked = 0
    for results_dir in args.results_dirs:
        for path in sorted(runs_dir(results_dir).glob("*.json")):
            text = path.read_text(encoding="utf-8")
            rec = json.loads(text)
            if serialise(rec) != text:
                raise SystemExit(f"{path}: not in write_record's format; refusing to rewrite it")
            key = (rec["dataset"], rec["mechanism"], float(rec["missing_rate"]), int(rec["seed"]))
            if key not in digests:
                X, mask = make_cell_input(*key, download=False, mechanism_options=mechanism_options(key[1]))
                digests[key] = (mask_digest(mask), X.shape[0], X.shape[1], float(mask.mean()))
            digest, n, d, rate = digests[key]
            if (rec.get("n"), rec.get("d"), rec.get("realised_missing_rate")) != (n, d, rate):
                raise SystemExit(f"{path}: the recomputed mask gives n={n} d={d} rate={rate!r}, the record "
                                 f"n={rec.get('n')} d={rec.get('d')} rate={rec.get('realised_missing_rate')!r}")
            if "mask_digest" in rec:
                if rec["mask_digest"] != digest:
                    raise SystemExit(f"{path}: mask_digest {rec['mask_digest']} but the recomputed mask gives {digest}")
                checked += 1
                continue
            if not args.check:
                path.write_text(serialise({**rec, "mask_digest": digest}), encoding="utf-8")
            added += 1
    verb = "would add" if args.check else "added"
    print(f"{verb} mask_digest to {added} records, {checked} already carried the recomputed digest; "
          f"{len(digests)} distinct masks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
