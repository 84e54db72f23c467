"""The README's headline, generated from the records: where KnewImp stands, in a few sentences
and one small table, and what the committed grid cost.

Every figure comes from :func:`knewimp.report.claims.compute_claims` (KnewImp's place per
dataset x mechanism block) and from the records' ``fit_seconds``; nothing is typed.
"""
from __future__ import annotations

from knewimp.report.claims import Claim
from knewimp.report.selection import Column

#: (view, what it means) in the order the headline reads them.
VIEWS = (("paper", "the paper's comparison, every baseline at the settings of the grid"),
         ("paper_faithful", "the same methods with TDM and GAIN at their authors' published settings"))


def _get(claims: list[Claim], view: str, metric: str, scope: str) -> Claim | None:
    return next((c for c in claims if (c.view, c.metric, c.scope) == (view, metric, scope)), None)


def _share(claim: Claim | None) -> str:
    if claim is None or not claim.places:
        return "--"
    return f"{claim.count(1)} / {claim.top2} of {len(claim.places)}"


def _most_frequent_winner(claim: Claim | None, labels: dict[Column, str]) -> str | None:
    if claim is None or not claim.winners:
        return None
    names = [labels.get(c, c.method) for c in claim.winners.values()]
    best = max(sorted(set(names)), key=names.count)
    return f"{best} ({names.count(best)} of {len(claim.places)} blocks)"


def render_headline(claims: list[Claim], labels: dict[Column, str], records: list[dict]) -> str:
    """Markdown: two sentences per view, a per-mechanism table, and the compute the records hold."""
    lines = []
    for view, meaning in VIEWS:
        mae, wass = _get(claims, view, "mae", "all"), _get(claims, view, "wass", "all")
        if mae is None or not mae.places:
            continue
        text = (f"In {meaning} (view `{view}`), KnewImp has the lowest MAE in {mae.count(1)} of "
                f"{len(mae.places)} dataset x mechanism blocks and is best or second in {mae.top2}")
        if wass is not None and wass.places:
            text += f"; in WASS it is best in {wass.count(1)} and best or second in {wass.top2}"
        winner = _most_frequent_winner(mae, labels)
        lines.append(text + "." + (f" The column that beats it most often in MAE: {winner}." if winner else ""))
    scopes = sorted({c.scope for c in claims if c.scope != "all"}, key=("mcar", "mar", "mnar").index) + ["all"]
    present = [v for v, _ in VIEWS if _get(claims, v, "mae", "all")]
    if present:
        lines += ["", "KnewImp best / best or second, of the complete blocks:", "",
                  "| mechanism | " + " | ".join(f"MAE, `{v}`" for v in present) + " | "
                  + " | ".join(f"WASS, `{v}`" for v in present) + " |",
                  "|---" * (1 + 2 * len(present)) + "|"]
        for scope in scopes:
            cells = [_share(_get(claims, v, m, scope)) for m in ("mae", "wass") for v in present]
            lines.append(f"| {scope} | " + " | ".join(cells) + " |")
    ok = [r for r in records if r.get("status") == "ok"]
    hours = sum(r.get("fit_seconds") or 0.0 for r in ok) / 3600
    lines += ["", f"The committed records hold {len(ok)} ok cells and {hours:.1f} CPU-hours of imputation: "
              "`make reproduce` on them computes nothing and only rebuilds the tables; from an empty "
              "results folder it recomputes them all."]
    return "\n".join(lines) + "\n"
