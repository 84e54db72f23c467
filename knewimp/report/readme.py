"""Copy generated tables into a Markdown document between named markers.

The README quotes some result tables (the paper's main MCAR and MAR tables, the grid status). To
keep every number there regenerated from the records, the document holds marker pairs

    <!-- results:mcar_mae -->
    ... replaced ...
    <!-- /results:mcar_mae -->

and ``fill_markers`` replaces what lies between them with ``<tables_dir>/mcar_mae.md``, its
headings turned into bold lines (so it does not break the document's outline). A marker
whose table does not exist yet gets a one-line note saying so; an unmatched marker is an error.

    python -m knewimp.report.readme README.md --tables results/tables
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from knewimp.harness.atomic import write_text_atomic

_PAIR = re.compile(r"(<!-- results:(?P<name>[A-Za-z][\w-]*) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)
_OPEN = re.compile(r"<!-- results:([A-Za-z][\w-]*) -->")


def _demote(table_md: str) -> str:
    lines = [f"**{line.lstrip('#').strip()}**" if line.startswith("#") else line
             for line in table_md.strip("\n").splitlines()]
    return "\n".join(lines) + "\n"


def fill_markers(text: str, tables_dir: str | Path) -> tuple[str, list[str]]:
    """Return ``text`` with every marker pair filled, and the names that had no table yet."""
    tables_dir = Path(tables_dir)
    opened = _OPEN.findall(text)
    closed = {m.group("name") for m in _PAIR.finditer(text)}
    unmatched = sorted(set(opened) - closed)
    if unmatched:
        raise ValueError(f"marker without its closing <!-- /results:NAME -->: {', '.join(unmatched)}")
    missing: list[str] = []

    def fill(m: re.Match) -> str:
        path = tables_dir / f"{m.group('name')}.md"
        if path.is_file():
            body = _demote(path.read_text(encoding="utf-8"))
        else:
            missing.append(m.group("name"))
            # the table's name, not its path: the document must not depend on where it was built
            body = f"_`{path.name}` has not been generated yet: no records (`make tables` writes it once they exist)._\n"
        return m.group(1) + body + m.group(4)

    return _PAIR.sub(fill, text), missing


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knewimp.report.readme", description=__doc__.split("\n")[0])
    ap.add_argument("document", help="Markdown file holding <!-- results:NAME --> markers")
    ap.add_argument("--tables", default="results/tables", help="folder of NAME.md tables (default results/tables)")
    args = ap.parse_args(argv)
    path = Path(args.document)
    try:
        text, missing = fill_markers(path.read_text(encoding="utf-8"), args.tables)
    except (OSError, ValueError) as exc:
        print(f"knewimp.report.readme: {exc}", file=sys.stderr)
        return 2
    write_text_atomic(path, text)
    note = f" (no table yet: {', '.join(missing)})" if missing else ""
    print(f"knewimp.report.readme: filled {path}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
