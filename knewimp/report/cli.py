"""What the report's command lines share: one exit code per outcome, and one argument parser for an
experiment module's ``python -m`` entry."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from knewimp.report.selection import MaskMismatch


def guarded(write: Callable[[], object]) -> int:
    """Run ``write``; 0 when it finishes, else one line on stderr and 2 for records of two protocols
    in one table, 1 for a file that cannot be written (a full disk, a read-only folder: the files
    written so far are whole, every report file being written atomically)."""
    try:
        write()
    except MaskMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def experiment_main(argv: Sequence[str] | None, doc: str | None, options: Sequence[tuple[str, str, str]],
                    build: Callable[..., list], nothing: str | None = None) -> int:
    """``python -m knewimp.report.experiments.<name>``: ``options`` are (flag, default, help), passed
    to ``build`` in order; when ``build`` writes nothing, ``nothing`` (formatted with the options'
    values) is printed and the exit code is 1."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, default, help_text in options:
        ap.add_argument(flag, default=default, help=help_text)
    values = vars(ap.parse_args(argv))
    written: list = []
    code = guarded(lambda: written.extend(build(*values.values())))
    if code == 0 and nothing is not None and not written:
        print(nothing.format(**values))
        return 1
    return code
