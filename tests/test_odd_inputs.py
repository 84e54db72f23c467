"""Names are names, odd launcher settings and environments get one line or the right behaviour,
the data are checked on every load, and every report file is written whole or not at all."""
import errno
import os

import numpy as np
import pytest

from knewimp.harness import records
from knewimp.harness.run import prepare
from knewimp.harness.validate import UserError

CLIMBING = [
    (["dataset.name=../../../x"], "dataset.name='../../../x': must be a name of lower-case letters"),
    (["method.preset=../x"], "method.preset='../x': must be a name"),
    (["mechanism.name=a/b"], "mechanism.name='a/b': must be a name"),
    (["-m", "dataset=bt,pk", "dataset.name=../x"], "dataset.name='../x': must be a name"),
    (["-m", "experiment=../x"], "experiment='../x': must be a name"),
    ([f"seed={10**300}"], "seed=1000000000000000000000000000000000000000... (301 characters): must be an integer"),
    (["seed=4294967296"], "seed=4294967296: must be an integer in [0, 4294967295]"),
    (["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs=0: must be a non-zero integer"),
]


@pytest.mark.parametrize("args,message", CLIMBING, ids=lambda a: " ".join(a)[:40] if isinstance(a, list) else "")
def test_a_value_that_would_become_a_path_is_refused_in_one_line(tmp_path, args, message):
    with pytest.raises(UserError) as err:
        prepare([*args, f"results_dir={tmp_path}"])
    assert message in str(err.value) and "\n" not in str(err.value)
    assert records.scan(tmp_path) == ([], [])
    assert sorted(os.listdir(tmp_path)) in ([], ["runs"])


def test_a_relative_results_dir_under_chdir_is_resolved_against_the_launch_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, done = prepare(["hydra.job.chdir=true", "results_dir=rel/out"])
    assert done is None and f"results_dir={tmp_path}/rel/out" in argv and "results_dir=rel/out" not in argv
    argv, _ = prepare(["results_dir=rel/out"])                   # without chdir the line is left alone
    assert argv == ["results_dir=rel/out"]


def test_offline_in_the_environment_wins_over_download_true(tmp_path, monkeypatch):
    from knewimp.protocol.datasets import DataError, load_dataset

    monkeypatch.setenv("KNEWIMP_OFFLINE", "1")
    monkeypatch.setenv("KNEWIMP_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="not found offline"):
        load_dataset("pk", data_dir=tmp_path, download=True)


def test_a_cached_matrix_of_the_right_shape_but_other_numbers_is_refused(tmp_path, monkeypatch):
    from conftest import DATA_DIR
    from knewimp.protocol.datasets import MATRIX_DIGESTS, DataError, load_dataset, matrix_digest

    monkeypatch.setenv("KNEWIMP_CACHE_DIR", str(tmp_path))
    X = load_dataset("pk", data_dir=DATA_DIR)
    assert matrix_digest(X) == MATRIX_DIGESTS["pk"]
    X[3, 4] += 1e-9
    np.save(tmp_path / "pk.npy", X)
    with pytest.raises(DataError, match=r"the cache .*pk.npy has matrix digest [0-9a-f]{16}, expected f2c10828"):
        load_dataset("pk", data_dir=tmp_path / "empty", download=False)


def test_every_raw_file_gives_its_known_matrix():
    from conftest import DATA_DIR
    from knewimp.protocol.datasets import SPECS, load_dataset

    for name in SPECS:  # load_dataset checks the digest itself; a mismatch raises
        assert load_dataset(name, data_dir=DATA_DIR, download=False).shape == SPECS[name].shape


def test_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from knewimp.harness import run

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "runs" / "x.json"))
    monkeypatch.setattr(records, "write_json_atomic", full)
    monkeypatch.setattr(sys, "argv", ["knewimp-run", "dataset=bt", "method=mean/published",
                                      f"results_dir={tmp_path}", f"hydra.run.dir={tmp_path}/h"])
    with pytest.raises(SystemExit) as code:
        run.main()
    err = capsys.readouterr().err.strip()
    assert code.value.code == 1 and err.splitlines()[-1].startswith("error: cannot write ")
    assert "No space left on device" in err and "Traceback" not in err


def test_a_report_file_is_whole_or_untouched_when_its_writer_dies(tmp_path):
    from knewimp.harness.atomic import write_csv_atomic

    target = tmp_path / "all_records.csv"
    write_csv_atomic(target, ["a"], [{"a": 1}, {"a": 2}])
    before = target.read_bytes()

    def rows():
        yield {"a": 3}
        raise KeyboardInterrupt  # the writer stops half-way
    with pytest.raises(KeyboardInterrupt):
        write_csv_atomic(target, ["a"], rows())
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["all_records.csv"]


def test_the_report_and_the_sweep_callback_write_files_only_through_the_atomic_helpers():
    """A report killed mid-write must leave the old file or the new one, never half of one: no
    direct ``write_text``, ``savefig`` or ``open(..., "w")`` in the report's sources or the callback."""
    import re
    from pathlib import Path

    import knewimp

    root = Path(knewimp.__file__).parent
    sources = [*sorted((root / "report").rglob("*.py")), root / "harness" / "callbacks.py"]
    direct = re.compile(r"\.write_text\(|\.savefig\(|\bopen\([^)]*[\"']w")
    offenders = [f"{p.relative_to(root)}:{i}" for p in sources
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if direct.search(line) and "tmp" not in line]
    assert not offenders, offenders
