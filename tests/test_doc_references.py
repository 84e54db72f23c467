"""Every module and repository file that the typed text of the README, docs/ and the Makefile's
comments names exists: a renamed or deleted file must not leave a sentence pointing at nothing.

Generated blocks (``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->``) are left out: they are
rebuilt from the code by ``make tables``.
"""
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", re.S)
#: a dotted module of the package: knewimp.report.tables, knewimp.baselines.tdm
_MODULE = re.compile(r"(?<![\w./-])(knewimp(?:\.[a-z_][a-z0-9_]*)+)(?![\w/])")
#: a file name (knewimp.md) is not a module
_FILE_SUFFIX = (".md", ".py", ".yaml", ".json", ".csv", ".png", ".txt")
#: a path under a top-level folder of the repository, ending in a file extension
_PATH = re.compile(r"(?<![\w./-])((?:knewimp|baselines|configs|scripts|docs|tests|reference|results)/"
                   r"[\w./-]*\.(?:py|yaml|md|json|csv|png|tex|txt))(?![\w/])")
#: placeholders name a family of files, not one file
_PLACEHOLDER = re.compile(r"[{}<>*]|NAME|\.\.\.")


def typed_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.name == "Makefile":
        return "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    return _BLOCK.sub("", text)


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").glob("*.md"))]


def module_exists(name: str) -> bool:
    """``name`` is a module, or an attribute of one (knewimp.report.tables.write_tables)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.util.find_spec(".".join(parts[:cut])) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(".".join(parts[:cut]))
            for attr in parts[cut:]:
                if not hasattr(obj, attr):
                    return False
                obj = getattr(obj, attr)
            return True
    return False


def path_exists(name: str) -> bool:
    return (ROOT / name).exists()


def dangling(path: Path) -> list[str]:
    text = typed_text(path)
    bad = [f"module {m}" for m in sorted(set(_MODULE.findall(text)))
           if not m.endswith(_FILE_SUFFIX) and not module_exists(m)]
    bad += [f"file {p}" for p in sorted(set(_PATH.findall(text)))
            if not _PLACEHOLDER.search(p) and not path_exists(p.rstrip("."))]
    return bad


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_modules_and_files_exist(path):
    assert dangling(path) == []


def test_the_check_finds_a_missing_module_and_file(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("See `knewimp.report.no_such_module` and knewimp/no_such_file.py, but not "
                   "<!-- results:x -->knewimp/inside_a_block.py<!-- /results:x --> nor configs/method/<m>/<p>.yaml.\n"
                   "knewimp.report.tables.write_tables and knewimp/report/tables.py exist.\n")
    assert dangling(doc) == ["module knewimp.report.no_such_module", "file knewimp/no_such_file.py"]
