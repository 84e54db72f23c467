"""Tables of the one-cell benchmarks kept under ``results/bench`` (generated, never typed).

- every ``<name>.json`` holding ``measurements`` (written by ``scripts/bench_baselines.py --out``)
  becomes ``tables/bench_<name>.md``: one block per benchmarked cell, a row per (method, preset)
  with wall and CPU seconds of ``fit_transform``, MAE and MAE relative to column-mean imputation
  on the same cell, and the load average the runs saw;
- ``fidelity_<name>.json`` (``scripts/check_fidelity.py --out``) becomes ``tables/fidelity_<name>.md``:
  KnewImputer against the authors' code on the nine bt reference cases, per case and on average,
  with the requirement's verdict and, when the file holds more imputer seeds, their spread;
- a file of ``scripts/bench_knewimp.py --out`` (``kind: bench_knewimp``) becomes
  ``tables/bench_<name>.md``: each ``--ablate`` run as the change -> time table, and the other runs
  as one table of the fast path against the naive one (measured or extrapolated), with peak memory
  and, where timed, the arithmetic floor and the authors' code;
- a file of ``scripts/bench_diffusion.py --out`` (``kind: bench_diffusion``) becomes
  ``tables/bench_<name>.md``: CSDI-T / MissDiff runs per dataset and preset, training and sampling
  seconds, MAE (full runs) or "extrapolated" (timed on a share of the epochs and reverse steps);
- a file of ``scripts/bench_speedup.py --out`` (``kind: bench_speedup``) becomes
  ``tables/bench_<name>.md``: per method the CPU seconds of the old (a git revision) and the new
  implementation timed interleaved in one process, their ratio, and whether the outputs are
  bit-identical (else their largest difference and both MAEs);
- a file of ``scripts/paired_records.py --out`` (``kind: bench_paired``) becomes
  ``tables/bench_<name>.md``: per method preset, a changed implementation's records against the
  committed ones of the same cells (pairs, bit-identical counts, mean and largest differences,
  paired t-test, seed spread, verdict);
- a file of ``scripts/bench_remasker_batched.py --out`` (``kind: bench_batched``) becomes
  ``tables/bench_<name>.md``: per dataset and number K of cells trained side by side, CPU ms per
  model-step of K single steps and of one stacked step, and their ratio;
- ``divergence_ratios.json`` (``scripts/divergence_ratios.py``, ``kind: divergence_ratios``) becomes
  ``tables/divergence_ratios.md``: the distribution over every committed ok record of its MAE over
  the column-mean imputation's on its own mask, the count beyond each candidate multiple, and
  the records the harness's divergence rule failed when it was adopted;
- ``miracle_legacy.json`` (``scripts/miracle_legacy.py``) becomes ``tables/miracle_legacy.md``:
  MIRACLE with the original and the fixed mini-batch loop against the MAE the paper prints (runs
  whose completion the library's divergence guard refuses are scored unguarded and counted).

    python -m knewimp.report.experiments.bench [--bench results/bench] [--out results]
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from knewimp.harness.atomic import write_text_atomic
from knewimp.vocab import METHOD_ORDER


def _method_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def bench_table(data: dict) -> str:
    """Markdown of one benchmark file: a block per (dataset, mechanism, seed, overrides, device, threads)."""
    blocks: dict[tuple, list[dict]] = defaultdict(list)
    for m in data["measurements"]:
        blocks[(m["dataset"], m["mechanism"], m["seed"], tuple(m["overrides"]), m["device"], m["threads"])].append(m)
    out = []
    for (dataset, mechanism, seed, overrides, device, threads), rows in blocks.items():
        loads = [v for m in rows for v in (m["loadavg_before"], m["loadavg_after"])]
        head = (f"**{dataset} ({rows[0]['n']} x {rows[0]['d']}), {mechanism} 30%, seed {seed}, {device}, "
                f"{threads} thread(s){', ' + ' '.join(overrides) if overrides else ''}: column-mean MAE "
                f"{rows[0]['mean_mae']:.4f}; load average {min(loads):.1f}-{max(loads):.1f}**")
        out += [head, "", "| method | preset | seconds | CPU seconds | MAE | MAE / mean |", "|---|---|---|---|---|---|"]
        for m in sorted(rows, key=lambda m: (_method_key(m["method"]), m["preset"])):
            out.append(f"| {m['method']} | {m['preset']} | {m['seconds']:.1f} | {m['cpu_seconds']:.1f} | "
                       f"{m['mae']:.4f} | {m['mae'] / m['mean_mae']:.3f} |")
        out.append("")
    return "\n".join(out)


def fidelity_table(data: dict) -> str:
    """Markdown of one ``check_fidelity.py --out`` file: per case the authors' and our MAE / WASS, the
    nine-case means with our relative difference and the verdict against the tolerance; with more
    than one imputer seed per case, each case's MAE range and the spread of the nine-case mean."""
    cases = data["cases"]
    states = len(cases[0]["states"])
    head = ["case", "ref MAE", "our MAE", "ref WASS", "our WASS", "seconds"]
    if states > 1:
        head.insert(3, f"our MAE over {states} imputer seeds (min-max)")
    lines = [f"**KnewImputer ({data['dtype']}, {data['integrator']}, {data['threads']} thread(s)) against the "
             f"authors' code, {data['dataset']} 30%, random_state = the case's seed**", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        cells = [f"{c['mechanism']} seed {c['seed']}", f"{c['ref_mae']:.4f}", f"{c['mae']:.4f}",
                 f"{c['ref_wass']:.4f}", f"{c['wass']:.4f}", f"{c['seconds']:.1f}"]
        if states > 1:
            maes = [m for m, _ in c["states"]]
            cells.insert(3, f"{min(maes):.4f}-{max(maes):.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    ref_mae, mae, ref_wass, wass = (float(np.mean([c[k] for c in cases])) for k in ("ref_mae", "mae", "ref_wass", "wass"))
    rel_mae, rel_wass = mae / ref_mae - 1, wass / ref_wass - 1
    mean = ["**mean**", f"**{ref_mae:.4f}**", f"**{mae:.4f}** ({100 * rel_mae:+.2f}%)", f"**{ref_wass:.4f}**",
            f"**{wass:.4f}** ({100 * rel_wass:+.2f}%)", f"{np.mean([c['seconds'] for c in cases]):.1f}"]
    if states > 1:
        mean.insert(3, "")
    lines.append("| " + " | ".join(mean) + " |")
    tol = 100 * data["tolerance"]
    within = rel_mae <= data["tolerance"] and rel_wass <= data["tolerance"]
    lines += ["", f"Mean MAE {100 * rel_mae:+.2f}% and mean WASS {100 * rel_wass:+.2f}% against the authors' code: "
                  f"{'within' if within else 'beyond'} the requirement (at most +{tol:.0f}% each)."]
    if states > 1:
        per_state = np.array([c["states"] for c in cases])        # (case, state, metric)
        means = per_state.mean(axis=0)                              # nine-case mean per seed set
        lines.append(f"Nine-case mean over {states} imputer seed sets (random_state = seed + "
                     f"{', '.join(str(o) for o in data['state_offsets'])}): MAE {means[:, 0].mean():.4f} +- "
                     f"{means[:, 0].std(ddof=1):.4f}, WASS {means[:, 1].mean():.4f} +- {means[:, 1].std(ddof=1):.4f} "
                     f"(sample std); the authors' {ref_mae:.4f} and {ref_wass:.4f} lie "
                     f"{abs(ref_mae - means[:, 0].mean()) / means[:, 0].std(ddof=1):.1f} and "
                     f"{abs(ref_wass - means[:, 1].mean()) / means[:, 1].std(ddof=1):.1f} std from them.")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """A Markdown table cell's text: a literal pipe would end the cell."""
    return text.replace("|", r"\|")


def knewimp_speed_table(data: dict) -> str:
    """Markdown of a ``bench_knewimp.py --out`` file (see the module docstring)."""
    out = []
    for e in (e for e in data["entries"] if e["mode"] == "ablate"):
        out += [f"**{e['data']}, {e['dtype']}, {e['threads']} thread(s), {e['outer']} x ({e['epochs']} DSM epochs + "
                f"{e['steps']} particle steps), load average {e['loadavg']:.1f}; each change on top of the previous**", "",
                "| change | wall s (speed-up) | CPU s | DSM fit s | particle steps s | ms/step | MAE |",
                "|---|---|---|---|---|---|---|"]
        first = e["rows"][0]["total"]
        out += [f"| {_escape(r['label'])} | {r['total']:.2f} ({first / r['total']:.1f}x) | {r['cpu']:.2f} | {r['fit']:.2f} | "
                f"{r['steps']:.2f} | {1e3 * r['per_step']:.2f} | {r['mae']:.6f} |" for r in e["rows"]]
        if e.get("authors"):
            a, last = e["authors"], e["rows"][-1]
            out += ["", f"The authors' released code on the same data, in the same process: {a['total']:.2f} s wall "
                        f"({a['cpu']:.2f} s CPU), MAE {a['mae']:.6f}; the last row is {a['total'] / last['total']:.2f}x "
                        f"faster."]
        out.append("")
    single = sorted((e for e in data["entries"] if e["mode"] == "single"), key=lambda e: (e["n"], e["d"], e["dtype"]))
    if single:
        out += ["| data | dtype | threads | settings | fast: wall s (ms/step) | naive: ms/step | speed-up per step | "
                "whole run | peak RSS MB (increase) | floor s (fast / floor) | authors' code s (fast speed-up; "
                "at most, by the floor) | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for e in single:
            f = e["fast"]
            naive = "--" if "naive_per_step" not in e else \
                f"{1e3 * e['naive_per_step']:.1f} ({'measured' if e['naive_measured'] else 'extrapolated'})"
            ratio = "--" if "step_ratio" not in e else f"{e['step_ratio']:.1f}x"
            whole = "--" if "naive_total" not in e else f"{e['naive_total'] / f['total']:.1f}x"
            floor = "--" if "floor" not in e else f"{e['floor']['total']:.2f} ({f['total'] / e['floor']['total']:.2f}x)"
            authors = "--"
            if e.get("authors"):
                a = e["authors"]["total"]
                bound = f"; {a / e['floor']['total']:.2f}x" if "floor" in e else ""
                authors = f"{a:.2f} ({a / f['total']:.2f}x{bound})"
            out.append(f"| {e['data']} | {e['dtype']} | {e['threads']} | {e['outer']} x ({e['epochs']} + {e['steps']}) | "
                       f"{f['total']:.2f} ({1e3 * f['per_step']:.1f}) | {naive} | {ratio} | {whole} | "
                       f"{f['peak']:.0f} (+{f['peak'] - f['rss_before']:.0f}) | {floor} | {authors} | {e['loadavg']:.1f} |")
        out.append("")
    return "\n".join(out)


def diffusion_table(data: dict) -> str:
    """Markdown of a ``bench_diffusion.py --out`` file: per run the training and sampling seconds (wall,
    process CPU in brackets), the MAE (or the failure, or "extrapolated" for a run timed on a share of
    its epochs and reverse steps) and the column-mean MAE of the same cell."""
    lines = ["| dataset | method | preset | threads | train s (CPU s) | sample s (CPU s) | total min | MAE | "
             "mean-fill MAE | run | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = lambda e: (e["n"] * e["d"], e["dataset"], e["method"], e["preset"] != "published", e["preset"])  # noqa: E731
    for e in sorted(data["entries"], key=order):
        if e["extrapolated"]:
            mae, run = "--", f"extrapolated from {e['timed_epochs']} epochs, {e['timed_steps']} reverse steps"
        elif e["mae"] is None:
            mae, run = "failed", f"full: {e['failure']}"
        else:
            mae, run = f"{e['mae']:.3f}", "full"
        if e.get("overrides"):
            run += "; " + ", ".join(f"{k}={v}" for k, v in e["overrides"].items())
        lines.append(f"| {e['dataset']} {e['n']}x{e['d']} | {e['method']} | {e['preset']} | {e['threads']} | "
                     f"{e['train_s']:.0f} ({e['train_cpu_s']:.0f}) | {e['sample_s']:.0f} ({e['sample_cpu_s']:.0f}) | "
                     f"{(e['train_s'] + e['sample_s']) / 60:.1f} | {mae} | {e['mean_fill_mae']:.3f} | {run} | "
                     f"{e['loadavg']:.1f} |")
    return "\n".join(lines) + "\n"


def speedup_table(data: dict) -> str:
    """Markdown of a ``bench_speedup.py --out`` file: a block per cell, a row per method preset."""
    blocks: dict[tuple, list[dict]] = defaultdict(list)
    for r in data["runs"]:
        blocks[(r["dataset"], r["n"], r["d"], r["mechanism"], r["seed"], r["old"])].append(r)
    out = []
    for (dataset, n, d, mechanism, seed, old), rows in blocks.items():
        loads = [v for r in rows for v in (r["loadavg_before"], r["loadavg_after"])]
        out += [f"**{dataset} ({n} x {d}), {mechanism} 30%, seed {seed}: old = `{old}`, new = this checkout, "
                f"runs interleaved in one process on one thread; load average {min(loads):.1f}-{max(loads):.1f}**",
                "", "| method | preset | schedule | runs | old CPU s | new CPU s | speed-up | outputs | MAE old | MAE new |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (_method_key(r["method"]), r["preset"])):
            same = "bit-identical" if r["identical"] else f"max diff {r['max_abs_diff']:.2g}"
            out.append(f"| {r['method']} | {r['preset']} | {' '.join(r['overrides']) or 'as the preset'} | "
                       f"{len(r['old_cpu'])} + {len(r['new_cpu'])} | {np.median(r['old_cpu']):.2f} | "
                       f"{np.median(r['new_cpu']):.2f} | {r['ratio']:.2f}x | {same} | {r['mae_old']:.4f} | "
                       f"{r['mae_new']:.4f} |")
        out.append("")
    return "\n".join(out)


def paired_table(data: dict) -> str:
    """Markdown of a ``paired_records.py --out`` file: a row per method preset and metric."""
    commits = sorted({c for g in data["groups"] for c in g["new_commits"]})
    lines = [f"The new code's records (run at {', '.join(f'`{c[:7]}`' for c in commits)} into a scratch folder) "
             "against the committed records of the same cell ids; "
             f"two-sided paired t-test; \"unchanged\" needs p >= {data['alpha']:g} and a mean |difference| below "
             "the committed column's seed-to-seed spread, in MAE and in WASS.", "",
             "| method | preset | pairs | datasets | mechanisms | metric | bit-identical | mean diff (new - committed) | "
             "mean abs diff | largest | seed spread | p | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in sorted(data["groups"], key=lambda g: (_method_key(g["method"]), g["preset"])):
        for m in ("mae", "wass"):
            s = g[m]
            spread = "--" if s["seed_spread"] is None else f"{s['seed_spread']:.2e}"
            lines.append(f"| {g['method']} | {g['preset']} | {g['pairs']} | {' '.join(g['datasets'])} | "
                         f"{' '.join(g['mechanisms'])} | {m.upper()} | {s['identical']} | {s['mean_diff']:+.2e} | "
                         f"{s['mean_abs_diff']:.2e} | {s['max_abs_diff']:.2e} | {spread} | {s['p_value']:.3f} | "
                         f"{g['verdict']} |")
    if data["unmatched"]:
        lines += ["", f"{len(data['unmatched'])} new record(s) have no committed twin and are not compared."]
    return "\n".join(lines) + "\n"


def _printed(paper: dict | None, dataset: str, mechanism: str) -> float | None:
    if paper is None:
        return None
    table = next((t for t in paper["tables"] if t["id"] == "Table 1"), None)
    for row in (table or {}).get("rows", []):
        if (row["method"], row["dataset"], row["mechanism"], row["metric"], row["stat"]) == \
                ("MIRACLE", dataset.upper(), mechanism.upper(), "MAE", "mean"):
            return float(row["value"])
    return None


def miracle_legacy_table(data: dict, paper: dict | None) -> str:
    """Markdown: MAE mean +- std over seeds per (dataset, mechanism) and loop, beside the printed value,
    and one sentence on how many printed values fall within the legacy loop's seed spread."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in data["runs"]:
        groups[(r["dataset"], r["mechanism"], r["preset"])][r["loop"]].append(r)

    def cell(runs: list[dict], key: str = "mae") -> str:
        v = np.array([r[key] for r in runs])
        return f"{v.mean():.2f} +- {v.std():.2f}" if len(v) else "--"

    lines = ["| dataset | n | mechanism | preset (batch, epochs) | seeds | mean imputation | legacy loop (steps) | "
             "fixed loop (steps) | paper prints |", "|---|---|---|---|---|---|---|---|---|"]
    inside, compared = 0, 0
    for (dataset, mechanism, preset), loops in groups.items():
        legacy, fixed = loops.get("legacy", []), loops.get("fixed", [])
        any_run = (legacy or fixed)[0]
        printed = _printed(paper, dataset, mechanism)
        steps = {name: "/".join(sorted({str(r["steps"]) for r in runs}))
                 + "".join(f"; {k} beyond the guard" for k in [sum(bool(r.get("out_of_range")) for r in runs)] if k)
                 for name, runs in loops.items()}
        lines.append(f"| {dataset} | {any_run['n']} | {mechanism} | {preset} ({any_run['batch_size']}, "
                     f"{any_run['n_epochs']}) | {len(legacy)} | {cell(legacy or fixed, 'mean_mae')} | "
                     f"{cell(legacy)} ({steps.get('legacy', '--')}) | {cell(fixed)} ({steps.get('fixed', '--')}) | "
                     f"{'n/a' if printed is None else f'{printed:.2f}'} |")
        if printed is not None and legacy:
            v = np.array([r["mae"] for r in legacy])
            compared += 1
            inside += int(abs(printed - v.mean()) <= 2 * v.std())
    lines += ["", f"The printed MAE lies within the legacy loop's mean +- 2 std over seeds in {inside} of "
                  f"{compared} (dataset, mechanism) pairs."]
    return "\n".join(lines) + "\n"


def divergence_table(data: dict) -> str:
    """Markdown of ``scripts/divergence_ratios.py``'s file."""
    q = data["quantiles"]
    lines = ["# MAE over the column-mean imputation's MAE on the same mask", "",
             f"Every committed ok record ({data['records']}; a mixed-type record on its numerical entries), its mask "
             f"recomputed from its own protocol{' and checked against its mask digest' if not data['mask_mismatches'] else ''}. "
             f"The harness records a cell failed beyond {data['divergence_ratio']:g}x "
             "(`DIVERGENCE_RATIO`, knewimp/harness/cell.py).", "",
             "| median | 90th percentile | 99th | 99.9th | largest |", "|---|---|---|---|---|",
             "| " + " | ".join(f"{q[k]:.3f}" for k in ("0.5", "0.9", "0.99", "0.999", "1")) + " |", "",
             "| ok records beyond | " + " | ".join(f"{k}x" for k in data["above"]) + " |",
             "|---|" + "---|" * len(data["above"]),
             "| count | " + " | ".join(str(v) for v in data["above"].values()) + " |", "",
             "Largest ratios among the ok records:", "", "| ratio | cell |", "|---|---|"]
    lines += [f"| {r['ratio']:.3f} | `{r['cell_id']}` |" for r in data["largest"][:10]]
    failed = data.get("failed_by_the_rule", [])
    lines += ["", f"Records the rule rewrote as failed when it was adopted ({len(failed)}; "
                  "`scripts/divergence_ratios.py --apply`):", ""]
    if failed:
        lines += ["| ratio | cell |", "|---|---|"]
        lines += [f"| {r['ratio']:.3f} | `{r['cell_id']}` |" for r in sorted(failed, key=lambda r: -r["ratio"])]
    else:
        lines.append("none.")
    return "\n".join(lines) + "\n"


def batched_table(data: dict) -> str:
    """Markdown of a ``bench_remasker_batched.py --out`` file: a row per dataset and K."""
    lines = [f"{data['method']}: K cells of one dataset trained as one network with stacked weights against K "
             f"single steps, batch {data['batch']}, CPU ms per model-step, one thread, interleaved "
             f"({data['machine']}, {data['cpus']} CPUs, torch {data['torch']}, {data['date']}). A ratio above 1 is "
             "what training cells side by side would buy per cell.", "",
             "| dataset | n x d | K | K single steps (ms per model) | one stacked step (ms per model) | "
             "single / stacked | steps | load |", "|---|---|---|---|---|---|---|---|"]
    for b in data["blocks"]:
        for r in b["rows"]:
            lines.append(f"| {b['dataset']} | {b['n']:,} x {b['d']} | {r['K']} | {r['single_ms']:.1f} | "
                         f"{r['stacked_ms']:.1f} | {r['single_ms'] / r['stacked_ms']:.2f}x | {b['repeats']} | "
                         f"{b['load'][0]:.1f}-{b['load'][1]:.1f} |")
    return "\n".join(lines) + "\n"


def build(bench_dir: str | Path, out: str | Path, paper_path: str | Path | None = None, log=print) -> list[Path]:
    """Write the tables of every benchmark file under ``bench_dir``; nothing when it is absent."""
    bench_dir, tables = Path(bench_dir), Path(out) / "tables"
    written = []
    if not bench_dir.is_dir():
        return written
    paper = json.loads(Path(paper_path).read_text()) if paper_path is not None else None
    for path in sorted(bench_dir.glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("kind") == "bench_scale":  # scripts/bench_scale.py: rendered by experiments.scale
            continue
        if data.get("kind") == "bench_knewimp":
            target, text = tables / f"bench_{path.stem}.md", knewimp_speed_table(data)
        elif data.get("kind") == "bench_speedup":
            target, text = tables / f"bench_{path.stem}.md", speedup_table(data)
        elif data.get("kind") == "bench_paired":
            target, text = tables / f"bench_{path.stem}.md", paired_table(data)
        elif data.get("kind") == "bench_batched":
            target, text = tables / f"bench_{path.stem}.md", batched_table(data)
        elif data.get("kind") == "divergence_ratios":
            target, text = tables / f"{path.stem}.md", divergence_table(data)
        elif data.get("kind") == "bench_diffusion":
            target, text = tables / f"bench_{path.stem}.md", diffusion_table(data)
        elif "measurements" in data:
            target, text = tables / f"bench_{path.stem}.md", bench_table(data)
        elif "cases" in data:
            target, text = tables / f"{path.stem}.md", fidelity_table(data)
        elif "runs" in data:
            target, text = tables / f"{path.stem}.md", miracle_legacy_table(data, paper)
        else:
            raise ValueError(f"{path}: none of `measurements` (bench_baselines), `cases` (check_fidelity) or "
                             "`runs` (miracle_legacy)")
        tables.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, text, encoding="utf-8")
        written.append(target)
        log(f"wrote {target}")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    from knewimp.report.paper import resolve_paper_path

    ap = argparse.ArgumentParser(prog="python -m knewimp.report.experiments.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default="results/bench")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    build(args.bench, args.out, resolve_paper_path())
    return 0


def report(results_dir: Path, out: Path, log=print) -> list[Path]:
    """The one-cell benchmarks of ``<results>/bench``."""
    from knewimp.report.paper import resolve_paper_path

    return build(Path(results_dir) / "bench", out, resolve_paper_path(), log=log)


if __name__ == "__main__":
    raise SystemExit(main())
