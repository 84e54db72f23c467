"""The README's headline, generated from the records: per view (:mod:`knewimp.report.views`), which
method ranks first, where KnewImp and the strongest baseline stand, and what the committed
grid cost.

Every figure comes from :func:`knewimp.report.standings.standing` and the records'
``fit_seconds``; nothing is typed. A view whose columns are not all run says how far each one
has come ("k of 24 blocks") and counts only its complete blocks.
"""
from __future__ import annotations

from collections import Counter

from knewimp.harness.provenance import from_uncommitted_code
from knewimp.report.selection import Column
from knewimp.report.standings import FALLBACK, Standing, standing
from knewimp.report.views import VIEWS, stand_in_label


def _name(c: Column) -> str:
    return f"{c.method}/{c.preset}"


def _rank(s, metric: str) -> str:
    r = s.avg_rank.get(metric)
    return "--" if r is None or r != r else f"{r:.2f}"


def _sentence(st: Standing) -> str:
    v = st.view
    return _counts(st) + _failures(st) + (
        " Standing in for published settings, the published networks cut: "
        + "; ".join(f"{_name(c)} ({stand_in_label(c.method, c.preset, short=True)})" for c in v.stand_ins)
        + "." if v.stand_ins else "")


def _failures(st: Standing) -> str:
    failed = [c for c in st.columns if c.scored_as_fallback]
    if not failed:
        return ""
    return (f" Failed cells, each scored as `{_name(FALLBACK)}` on the same cell (a failed run counts as the "
            "constant baseline, as in the AutoML benchmark): "
            + ", ".join(f"{_name(c.column)} {c.scored_as_fallback}" for c in failed) + ".")


def _counts(st: Standing) -> str:
    v = st.view
    head = f"**View `{v.name}`**, {v.meaning}"
    n = len(st.complete)
    waiting = st.waiting
    wait = ("; " + ", ".join(f"{_name(c.column)} {c.full_blocks} of {st.n_blocks} blocks" for c in waiting)
            if waiting else "")
    if not n:
        return f"{head}: no block complete yet{wait}."
    scope = (f"over its {n} complete blocks" if n == st.n_blocks
             else f"over the {n} of {st.n_blocks} blocks complete so far{wait}")
    top = st.top
    ref, other = st.of(st.reference), st.of(st.strongest)
    text = (f"{head}, {scope}: {_name(top.column)} ranks first (average rank MAE {_rank(top, 'mae')}, "
            f"WASS {_rank(top, 'wass')}). KnewImp: best MAE in {ref.best['mae']} blocks, best or second in "
            f"{ref.top2['mae']}, average rank MAE {_rank(ref, 'mae')} / WASS {_rank(ref, 'wass')}. Strongest "
            f"baseline {_name(other.column)}: best in {other.best['mae']}, best or second in {other.top2['mae']}, "
            f"average rank MAE {_rank(other, 'mae')} / WASS {_rank(other, 'wass')}.")
    for metric, h in st.head_to_head.items():
        text += (f" Head to head in {metric.upper()}: KnewImp lower in {h.ref_lower} of {h.blocks} "
                 f"({h.ref_lower_significant} significant), {other.column.method} lower in {h.other_lower} "
                 f"({h.other_lower_significant} significant).")
    return text


def _table(st: Standing) -> list[str]:
    lines = [f"| `{st.view.name}` column | setting | blocks run | failed cells | avg rank MAE | avg rank WASS | "
             "best MAE | best or second MAE | best WASS | best or second WASS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in st.columns:
        counts = ([str(c.best["mae"]), str(c.top2["mae"]), str(c.best["wass"]), str(c.top2["wass"])] if st.complete
                  else ["--"] * 4)  # no complete block: nothing counted, not zero wins
        lines.append(f"| {_name(c.column)} | {c.description} | {c.full_blocks} of {st.n_blocks} | "
                     f"{c.scored_as_fallback} | {_rank(c, 'mae')} | "
                     f"{_rank(c, 'wass')} | " + " | ".join(counts) + " |")
    return lines


def standings(records: list[dict], reference: Column | None) -> list[Standing]:
    return [] if reference is None else [standing(records, v, reference) for v in VIEWS]


def render_headline(sts: list[Standing], records: list[dict]) -> str:
    """Markdown: one paragraph per view, then the committed compute."""
    lines = []
    for st in sts:
        lines += [_sentence(st), ""]
    lines += [
        "Counted over each view's complete blocks (every column with all seeds, a failed cell scored as "
        f"`{_name(FALLBACK)}` on the same cell); head to head: blocks "
        "where one mean is lower, significant by a paired one-sided t-test over seeds, Holm-adjusted "
        "p < 0.05 over those blocks. Every column of every view: `results/tables/views.md`.", ""]
    ok = [r for r in records if r.get("status") == "ok"]
    hours = sum(r.get("fit_seconds") or 0.0 for r in ok) / 3600
    dirty = sum(from_uncommitted_code(r.get("git_commit")) for r in ok)
    devices = Counter(str(r.get("device") or "unknown") for r in ok)
    where = ", ".join(f"{n} on {d}" for d, n in sorted(devices.items(), key=lambda kv: -kv[1]))
    lines += [f"The committed records hold {len(ok)} ok cells ({where}) and {hours:.1f} hours of imputation; "
              f"{dirty} of them ran code with uncommitted changes (a `-dirty` commit). `make reproduce` on them "
              "computes nothing and only rebuilds the tables; from an empty results folder it recomputes them all."]
    return "\n".join(lines) + "\n"


def render_views(sts: list[Standing], rate: float) -> str:
    """Markdown: every view, every column, with its setting and progress."""
    lines = [f"# The views, column by column (missing rate {rate:g})", "",
             "Generated by `knewimp/report/headline.py` from the records and `knewimp/report/views.py`. "
             "Ranks and counts are over the view's complete blocks only; `blocks run` is a column's own "
             f"progress (blocks where it has every seed); `failed cells`: cells whose record failed, each scored "
             f"as `{_name(FALLBACK)}`'s record of the same cell (`knewimp/report/standings.py`).", ""]
    for st in sts:
        lines += [f"## View `{st.view.name}`", "", _sentence(st), ""] + _table(st) + [""]
    return "\n".join(lines)
