"""Which run records enter the tables, and the datasets, mechanisms and (method, preset) columns they span.

Rows and columns follow the paper's order; names the paper does not have sort after it, alphabetically.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Sequence

from knewimp.harness.identity import params_digest
from knewimp.harness.records import record_problem
from knewimp.vocab import DATASETS as DATASET_ORDER, MECHANISMS as MECHANISM_ORDER, METHOD_ORDER, TEST_PRESETS

RECORD_FIELDS = ("cell_id", "dataset", "mechanism", "missing_rate", "realised_missing_rate", "mask_digest", "seed",
                 "method", "preset", "params", "n", "d", "status", "error", "mae", "rmse", "wass",
                 "wass_method", "fit_seconds", "device", "versions", "git_commit", "started_at",
                 "finished_at")


def _order_key(value: str, order: Sequence[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), str(value))


def dataset_key(dataset: str) -> tuple[int, str]:
    return _order_key(dataset, DATASET_ORDER)


def mechanism_key(mechanism: str) -> tuple[int, str]:
    return _order_key(mechanism, MECHANISM_ORDER)


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class Column(NamedTuple):
    """One table column: a method run under one preset.

    A NamedTuple so that columns compare and hash by value: they key the cells, labels and ranks.
    """
    method: str
    preset: str

    @classmethod
    def of(cls, rec: dict) -> Column:
        return cls(rec["method"], rec["preset"])

    def sort_key(self) -> tuple:
        return (*_order_key(self.method, METHOD_ORDER), self.preset)


def datasets_in(records: Iterable[dict]) -> list[str]:
    return sorted({r["dataset"] for r in records}, key=dataset_key)


def mechanisms_in(records: Iterable[dict]) -> list[str]:
    return sorted({r["mechanism"] for r in records}, key=mechanism_key)


def columns_in(records: Iterable[dict]) -> list[Column]:
    return sorted({Column.of(r) for r in records}, key=Column.sort_key)


def column_labels(columns: Iterable[Column]) -> dict[Column, str]:
    """``method`` when the records hold one preset of that method, else ``method (preset)``."""
    columns = list(columns)
    presets = defaultdict(set)
    for c in columns:
        presets[c.method].add(c.preset)
    return {c: c.method if len(presets[c.method]) == 1 else f"{c.method} ({c.preset})" for c in columns}


class MaskMismatch(ValueError):
    """Records of the same cell were computed on different masks: their columns are not comparable."""


def check_mask_digests(records: Iterable[dict]) -> None:
    """Refuse records of one (dataset, mechanism, missing rate, seed) whose ``mask_digest``
    differ: their methods did not see the same missing entries (other data, amputation code or
    version), so a table must not put them side by side. Records without a digest (written
    before records carried one) are not checked."""
    seen: dict[tuple, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("mask_digest"):
            key = (r["dataset"], r["mechanism"], float(r["missing_rate"]), int(r["seed"]))
            seen[key][r["mask_digest"]].append(f"{r['method']} ({r['preset']})")
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    if clashes:
        (ds, mech, rate, seed), by_digest = next(iter(sorted(clashes.items())))
        detail = "; ".join(f"mask {d}: {', '.join(sorted(cols))}" for d, cols in sorted(by_digest.items()))
        raise MaskMismatch(
            f"records of the same cell were computed on different masks ({len(clashes)} cell(s); first: "
            f"{ds} {mech} rate {rate:g} seed {seed}: {detail}); their columns cannot be compared. "
            "Recompute the odd records here, or tabulate their folders separately")


def check_one_protocol(records: Iterable[dict]) -> None:
    """Refuse records of different protocols (the record's ``protocol``: non-default options such
    as ``scaling``) in one table: their numbers are not on the same footing."""
    seen = {json.dumps(r.get("protocol") or {}, sort_keys=True) for r in records}
    if len(seen) > 1:
        raise MaskMismatch(f"records of {len(seen)} protocols in one table ({', '.join(sorted(seen))}); "
                           "tabulate each protocol's folder separately")


@dataclass
class Selection:
    """The records that enter the tables and why the others did not."""
    kept: list[dict]
    excluded: dict[str, str]          # cell_id -> reason
    missing_rate: float
    include_quick: bool

    def count(self, reason_prefix: str) -> int:
        return sum(r.startswith(reason_prefix) for r in self.excluded.values())


def record_key(rec: dict) -> str:
    """The record's cell id; for a record without one, what it says it is (never a memory address)."""
    if rec.get("cell_id"):
        return str(rec["cell_id"])
    return "/".join(str(rec.get(k)) for k in ("dataset", "mechanism", "missing_rate", "seed", "method", "preset"))


def at_missing_rate(rec: dict, missing_rate: float) -> bool:
    """Whether ``rec`` was run at ``missing_rate`` (a non-numeric rate never is)."""
    rate = rec.get("missing_rate")
    return is_number(rate) and math.isclose(float(rate), missing_rate, rel_tol=0, abs_tol=1e-9)


def _exclusion(rec: dict, missing_rate: float, include_quick: bool) -> str | None:
    """Why ``rec`` (its seed already an int) stays out of the tables, or None."""
    if not at_missing_rate(rec, missing_rate):
        return f"missing_rate {rec.get('missing_rate')} != {missing_rate:g}"
    if rec["preset"] in TEST_PRESETS and not include_quick:
        return f"preset {rec['preset']} (tests only; --include-quick to include)"
    return None


def _malformation(rec: dict) -> str | None:
    """The harness's own check of a record (:func:`knewimp.harness.records.record_problem`): a
    record the harness would treat as damaged never enters a table."""
    problem = record_problem(rec)
    return None if problem is None else f"malformed record: {problem}"


def variant_of(rec: dict) -> str:
    """The record's protocol variant: the digest of its method parameters and non-default protocol
    options (the last part of its cell id), with the protocol options spelled out."""
    digest = params_digest(rec.get("params") or {}, rec.get("protocol") or None)
    protocol = rec.get("protocol") or {}
    return digest + (f" ({', '.join(f'{k}={v}' for k, v in sorted(protocol.items()))})" if protocol else "")


def select_records(records: list[dict], missing_rate: float = 0.3, include_quick: bool = False) -> Selection:
    """Keep records at ``missing_rate`` (not ``quick`` presets unless asked), one per cell;
    raise :class:`MaskMismatch` when kept records of one cell carry different mask digests.

    A table row is grouped by the whole identity but the seed: records of one (dataset, mechanism,
    method, preset) run under different parameters or protocol options (a CLI override,
    ``mechanism.options.p_obs``) are different experiments and are never averaged together. The
    table keeps one variant per group: the one at the default protocol, then the one with most ok
    records, then the most recently finished; the others are excluded, each with the reason (listed
    in failed.md and all_records.csv; tabulate them from a folder of their own). Within the kept
    variant, two records of one seed (the same cell in two joined folders) keep an ok record over a
    failed one, then the most recently finished; the other is listed as superseded.
    """
    excluded: dict[str, str] = {}
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        key = record_key(rec)  # of the loaded record, not the copy: all_records_rows looks it up by that
        reason = _malformation(rec)
        if reason is None:
            rec = {**rec, "seed": int(rec["seed"])}
            reason = _exclusion(rec, missing_rate, include_quick)
        if reason is not None:
            excluded[key] = reason
            continue
        groups[(rec["dataset"], rec["mechanism"], rec["method"], rec["preset"])][variant_of(rec)].append(rec)
    kept = []
    for (ds, mech, method, preset), variants in groups.items():
        def rank(item):
            variant, recs = item
            return (not recs[0].get("protocol"), sum(r["status"] == "ok" for r in recs),
                    max(str(r.get("finished_at") or "") for r in recs))
        (chosen, recs), *others = sorted(variants.items(), key=rank, reverse=True)
        for variant, other_recs in others:
            for other in other_recs:
                excluded[record_key(other)] = (f"another variant of {method}/{preset} on {ds} {mech} (params/protocol "
                                               f"{variant}) than the one tabulated ({chosen}): never averaged together")
        by_seed = defaultdict(list)
        for r in recs:
            by_seed[r["seed"]].append(r)
        for group in by_seed.values():
            group.sort(key=lambda r: (r["status"] == "ok", str(r.get("finished_at") or "")), reverse=True)
            kept.append(group[0])
            for other in group[1:]:
                excluded[record_key(other)] = f"superseded by {group[0].get('cell_id')}"
    check_mask_digests(kept)
    check_one_protocol(kept)
    return Selection(kept, excluded, missing_rate, include_quick)


def resolve_reference(records: list[dict], reference: str) -> Column | None:
    """The reference column: ``method`` or ``method:preset``.

    With several presets of the method and none named: the one with most ok records; on a tie
    the preset ``paper`` (the paper's settings), else the alphabetically first.
    """
    method, _, preset = reference.partition(":")
    cands = defaultdict(int)
    for r in records:
        if r["method"] == method and (not preset or r["preset"] == preset):
            cands[Column(method, r["preset"])] += r["status"] == "ok"
    if not cands:
        return None
    return sorted(cands, key=lambda c: (-cands[c], c.preset != "paper", c.preset))[0]


def missing_cells(records: list[dict]) -> list[tuple[str, str, Column, list[int]]]:
    """(mechanism, dataset, column, missing seeds) over the grid the selected records span.

    The grid is every mechanism x dataset x (method, preset) x seed that occurs in any selected
    record; a grid point with no record (ok or failed) is missing.
    """
    have = {(r["mechanism"], r["dataset"], Column.of(r), int(r["seed"])) for r in records}
    seeds = sorted({int(r["seed"]) for r in records})
    out = []
    for m in mechanisms_in(records):
        for ds in datasets_in(records):
            for c in columns_in(records):
                miss = [s for s in seeds if (m, ds, c, s) not in have]
                if miss:
                    out.append((m, ds, c, miss))
    return out


def all_records_rows(records: list[dict], sel: Selection) -> tuple[list[str], list[dict]]:
    """Every loaded record as a CSV row (dicts and lists as JSON), with whether and why it was excluded."""
    extra = sorted({k for r in records for k in r} - set(RECORD_FIELDS))
    fields = [*RECORD_FIELDS, *extra]
    rows = []
    for r in records:
        row = {}
        for k in fields:
            v = r.get(k)
            row[k] = json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else ("" if v is None else v)
        reason = sel.excluded.get(record_key(r), "")
        row["included"] = int(not reason)
        row["excluded_reason"] = reason
        rows.append(row)
    return [*fields, "included", "excluded_reason"], rows
