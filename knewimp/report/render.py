"""A ``Table`` as Markdown, LaTeX (booktabs) and long-format CSV rows.

The lowest mean of a row is bold, the second lowest underlined; ``*`` marks a significant paired
t-test against the reference, ``†`` a significant Holm-adjusted Wilcoxon test.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from knewimp.report.cells import ALPHA, Cell, Table
from knewimp.report.selection import dataset_key, is_number

MISSING = "--"
DAGGER = "†"


def fmt(x: float) -> str:
    """Three decimals (what the paper prints); scientific notation where that would show 0.000 or be huge."""
    if not is_number(x):
        return MISSING
    if x == 0 or 5e-4 <= abs(x) < 1e4:
        return f"{x:.3f}"
    return f"{x:.1e}"


def csv_number(x: float) -> str:
    """Unrounded, so the CSVs can be recomputed from; empty where there is no number."""
    return repr(float(x)) if is_number(x) else ""


def first_line(text: Any, limit: int = 200) -> str:
    s = str(text or "no error message").strip().splitlines()
    s = s[-1] if s else "no error message"  # tracebacks end with the exception line
    return s if len(s) <= limit else s[: limit - 3] + "..."


class _Style(NamedTuple):
    pm: str
    bold: str
    underline: str
    ttest: str
    wilcoxon: str
    marks: str


_MARKDOWN = _Style(" ± ", "**{}**", "<u>{}</u>",
                   r"\*",  # escaped so Markdown shows a literal asterisk next to bold text
                   DAGGER, "{}")
_LATEX = _Style(r" $\pm$ ", r"\textbf{{{}}}", r"\underline{{{}}}", "*", r"\dagger", "$^{{{}}}$")


def _cell_markup(table: Table, cell: Cell, style: _Style) -> str:
    if not cell.n:
        return MISSING
    text = fmt(cell.mean) if cell.n < 2 else f"{fmt(cell.mean)}{style.pm}{fmt(cell.std)}"
    if cell.n < table.max_seeds:
        text += f" (n={cell.n})"
    if cell.best:
        text = style.bold.format(text)
    elif cell.second:
        text = style.underline.format(text)
    marks = (style.ttest if cell.ttest_sig else "") + (style.wilcoxon if cell.wilcoxon_sig else "")
    return text + style.marks.format(marks) if marks else text


def _title(table: Table, rate: float) -> str:
    return f"{table.mechanism.upper()}, {table.metric.upper()} (missing rate {rate:g})"


def _presets_line(table: Table) -> str:
    return "; ".join(f"{table.labels[c]}: preset `{c.preset}`" for c in table.columns)


def _notes(table: Table) -> list[str]:
    """Footer lines shared by the Markdown and LaTeX renderings."""
    ref = table.labels.get(table.reference) if table.reference else None
    notes = [f"Mean ± sample std (ddof=1) of {table.metric.upper()} over seeds with status ok "
             f"(lower is better); `(n=k)` marks cells with fewer than the {table.max_seeds} seeds of the "
             f"fullest cell. Bold: best mean of the row, underlined: second best. `{MISSING}`: no ok record."]
    if ref is None:
        notes.append("No significance markers: the reference method has no record in this table.")
    else:
        notes.append(f"`*`: {ref} significantly better than this column: paired t-test over the seeds both "
                     f"have ok records for, one-sided (H1: {ref}'s mean is lower), p < {ALPHA}, uncorrected "
                     f"(as in the paper).")
        notes.append(f"`{DAGGER}`: one-sided Wilcoxon signed-rank test on the same pairs, Holm-adjusted over the "
                     f"{table.n_comparisons} comparisons of this table, adjusted p < {ALPHA}. With n paired seeds "
                     f"the smallest possible one-sided p is 2^-n (1/32 for 5 seeds), so {DAGGER} needs many seeds "
                     f"or few comparisons.")
    failed = [(ds, c, cell) for (ds, c), cell in table.cells.items() if cell.failed]
    if failed:
        n_failed = sum(len(cell.failed) for *_, cell in failed)
        parts = []
        for ds, c, cell in sorted(failed, key=lambda t: (dataset_key(t[0]), t[1].sort_key())):
            reasons = sorted({first_line(r.get("error")) for r in cell.failed})
            seeds = ",".join(str(r["seed"]) for r in sorted(cell.failed, key=lambda r: r["seed"]))
            parts.append(f"{ds}/{table.labels[c]} seeds {seeds}: {'; '.join(reasons)}")
        notes.append(f"Failed records: {n_failed} ({len(failed)} cells): " + " | ".join(parts)
                     + ". See failed.md.")
    no_val = [(ds, c, cell) for (ds, c), cell in table.cells.items() if cell.no_value]
    if no_val:
        notes.append("Ok records without a " + table.metric + " value: " + ", ".join(
            f"{ds}/{table.labels[c]} seeds {','.join(map(str, sorted(cell.no_value)))}" for ds, c, cell in no_val) + ".")
    approx = sorted({a for cell in table.cells.values() for a in cell.approximations})
    if approx:
        notes.append("WASS is an approximation (" + ", ".join(approx) + ") in: " + ", ".join(
            f"{ds}/{table.labels[c]}" for (ds, c), cell in table.cells.items() if cell.approximations)
            + "; exact OT elsewhere.")
    return notes


def render_markdown(table: Table, rate: float) -> str:
    lines = [f"# {_title(table, rate)}", "", f"Columns and presets: {_presets_line(table)}.", ""]
    if not table.datasets:
        return "\n".join(lines + ["No records.", ""])
    lines.append("| dataset | " + " | ".join(table.labels[c] for c in table.columns) + " |")
    lines.append("|---|" + "---|" * len(table.columns))
    for ds in table.datasets:
        row = [_cell_markup(table, table.cell(ds, c), _MARKDOWN) for c in table.columns]
        lines.append(f"| {ds} | " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"- {n}" for n in _notes(table)]
    return "\n".join(lines) + "\n"


_TEX_CHARS = {"\\": r"\textbackslash{}", "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$",
              "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "±": r"$\pm$", "†": r"$^\dagger$", "`": ""}


def _tex_escape(s: str) -> str:
    s = "".join(_TEX_CHARS.get(ch, ch) for ch in s)
    return s.replace("2^-n", r"$2^{-n}$")


def render_latex(table: Table, rate: float) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    esc = _tex_escape
    caption = (f"{esc(_title(table, rate))}. Presets: {esc(_presets_line(table))}. "
               + " ".join(esc(n) for n in _notes(table)))
    out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{caption}}}",
           rf"\label{{tab:{table.mechanism}_{table.metric}}}"]
    if not table.datasets:
        return "\n".join(out + [r"No records.", r"\end{table}", ""])
    out += [r"\begin{tabular}{l" + "c" * len(table.columns) + "}", r"\toprule",
            "dataset & " + " & ".join(esc(table.labels[c]) for c in table.columns) + r" \\", r"\midrule"]
    for ds in table.datasets:
        row = [_cell_markup(table, table.cell(ds, c), _LATEX) for c in table.columns]
        out.append(f"{esc(ds)} & " + " & ".join(row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)


TABLE_CSV_FIELDS = ("mechanism", "metric", "dataset", "column", "method", "preset", "n_ok", "n_failed",
                    "mean", "std", "best", "second", "n_pairs", "ttest_p", "ttest_sig", "wilcoxon_p",
                    "wilcoxon_p_holm", "wilcoxon_sig", "seeds", "reference")


def table_rows(table: Table) -> list[dict]:
    """Long format, one row per (dataset, column); empty string = not available."""
    rows = []
    ref = table.labels.get(table.reference, "") if table.reference else ""
    for ds in table.datasets:
        for c in table.columns:
            cell = table.cell(ds, c)
            rows.append(dict(
                mechanism=table.mechanism, metric=table.metric, dataset=ds, column=table.labels[c],
                method=c.method, preset=c.preset, n_ok=cell.n, n_failed=len(cell.failed),
                mean=csv_number(cell.mean), std=csv_number(cell.std), best=int(cell.best), second=int(cell.second),
                n_pairs=cell.n_pairs, ttest_p=csv_number(cell.ttest_p), ttest_sig=int(cell.ttest_sig),
                wilcoxon_p=csv_number(cell.wilcoxon_p), wilcoxon_p_holm=csv_number(cell.wilcoxon_p_holm),
                wilcoxon_sig=int(cell.wilcoxon_sig), seeds=" ".join(map(str, sorted(cell.values))),
                reference=ref))
    return rows
