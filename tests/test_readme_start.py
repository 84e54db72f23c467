"""The README's first screen starts a newcomer: the two commands, the data's sources as
knewimp.protocol.datasets reads them, and the torch the Makefile installs, before the results."""
import re
from pathlib import Path

from knewimp.protocol import datasets

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
START = README.split("<!-- results:headline -->", 1)[0]


def test_the_two_commands_and_the_data_come_before_the_results():
    assert "<!-- results:headline -->" in README
    assert len(START.splitlines()) <= 50, "the first screen is the start, not the results"
    assert "make reproduce" in START and "make test" in START
    source = Path(datasets.__file__).read_text()
    for name in ("KNEWIMP_DATA_DIR", "KNEWIMP_CACHE_DIR", "KNEWIMP_OFFLINE", "ucimlrepo", "download=false"):
        assert name in START, name
        assert name.split("=")[0].upper() in source.upper(), f"{name}: not what datasets.py reads"
    assert "~/.cache/knewimp" in START and "shared/data/uci" in START


def test_the_torch_sentence_says_what_the_makefile_installs():
    makefile = (ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^TORCH_VERSION \?= (\S+)$", makefile, flags=re.M)
    assert f"pip install torch==$(TORCH_VERSION)" in makefile
    assert f"torch=={version}" in " ".join(START.split())
    assert "CPU build of" not in START, "a pinned `pip install torch` does not choose the CPU build"
    assert "TORCH_INDEX" in START and "TORCH_INDEX ?=" in makefile
