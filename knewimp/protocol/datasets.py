"""The eight UCI datasets of the KnewImp paper, as the paper's raw (unscaled) feature matrices.

Lookup order for ``load_dataset(name)``:
1. a local data directory (argument ``data_dir``, else :func:`default_data_dir`) holding the raw UCI files, each checked against its known SHA-256 digest;
2. the user cache (``KNEWIMP_CACHE_DIR``, default ``~/.cache/knewimp``);
3. the network, unless ``download=False`` or ``KNEWIMP_OFFLINE=1``: ucimlrepo with the paper's
   column rules applied, or the UCI archive file where ucimlrepo cannot import the dataset; the
   result is written to the cache.
A digest mismatch is an error, never silently different data.
"""
from __future__ import annotations

import hashlib
import io
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from knewimp import vocab

ARCHIVE = "https://archive.ics.uci.edu/ml/machine-learning-databases/"


class DataError(RuntimeError):
    """A dataset could not be found, downloaded or verified."""


@dataclass(frozen=True)
class DatasetSpec:
    key: str
    title: str
    file: str
    sha256: str
    shape: tuple[int, int]
    uci_id: int
    archive_path: str
    parse: Callable[[bytes], pd.DataFrame]          # raw file bytes -> the paper's matrix
    from_ucimlrepo: Callable[[pd.DataFrame], pd.DataFrame] | None  # ucimlrepo 'original' -> matrix


def _csv(raw: bytes, **kw) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(raw), **kw)


def _drop_last(df: pd.DataFrame, k: int = 1) -> pd.DataFrame:
    return df.iloc[:, :-k]


def _without(*names: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def select(df: pd.DataFrame) -> pd.DataFrame:
        return df.drop(columns=[c for c in df.columns if c in names])
    return select


# Parkinsons: the paper keeps 'status', which ucimlrepo files as a target; the raw column order is
# restored so that both sources give the same matrix.
_PK_COLUMNS = ["MDVP:Fo(Hz)", "MDVP:Fhi(Hz)", "MDVP:Flo(Hz)", "MDVP:Jitter(%)", "MDVP:Jitter(Abs)",
               "MDVP:RAP", "MDVP:PPQ", "Jitter:DDP", "MDVP:Shimmer", "MDVP:Shimmer(dB)", "Shimmer:APQ3",
               "Shimmer:APQ5", "MDVP:APQ", "Shimmer:DDA", "NHR", "HNR", "status", "RPDE", "DFA",
               "spread1", "spread2", "D2", "PPE"]


def _white_wine(df: pd.DataFrame) -> pd.DataFrame:
    colour = "color" if "color" in df.columns else "is_red"
    rows = df[colour].astype(str).isin(["white", "0"])
    return df.loc[rows].drop(columns=[colour, "quality"], errors="ignore")


SPECS: dict[str, DatasetSpec] = {s.key: s for s in [
    DatasetSpec("bt", "Blood Transfusion Service Center", "transfusion.data",
                "96c8e1091b9c037bcaf25a19b24b49d07771cd88689ffd273e056e9e8845ffe7", (748, 4), 176,
                "blood-transfusion/transfusion.data",
                lambda raw: _drop_last(_csv(raw, header=0)), lambda df: _drop_last(df)),
    DatasetSpec("bcd", "Breast Cancer Wisconsin (Diagnostic)", "wdbc.data",
                "d606af411f3e5be8a317a5a8b652b425aaf0ff38ca683d5327ffff94c3695f4a", (569, 30), 17,
                "breast-cancer-wisconsin/wdbc.data",
                lambda raw: _csv(raw, header=None).iloc[:, 2:], _without("ID", "Diagnosis")),
    DatasetSpec("cc", "Concrete Compressive Strength", "Concrete_Data.xls",
                "0233dedd4c6f36b73ce7ffe2dd607eb5373ea74de1fe2a88c1b69fd69fabfad3", (1030, 7), 165,
                "concrete/compressive/Concrete_Data.xls",
                lambda raw: _drop_last(pd.read_excel(io.BytesIO(raw), header=0), 2),
                lambda df: df.iloc[:, :7]),
    DatasetSpec("cbv", "Connectionist Bench (Vowel Recognition, Deterding)", "vowel-context.data",
                "9a4f33faf0ce58894ad054494c7309ca5f33f3075457858ad7802d502f598b0f", (990, 10), 152,
                "undocumented/connectionist-bench/vowel/vowel-context.data",
                lambda raw: _csv(raw, header=None, sep=r"\s+").iloc[:, 3:13], None),
    DatasetSpec("is", "Ionosphere", "ionosphere.data",
                "46d52186b84e20be52918adb93e8fb9926b34795ff7504c24350ae0616a04bbd", (351, 34), 52,
                "ionosphere/ionosphere.data",
                lambda raw: _drop_last(_csv(raw, header=None)), _without("Class")),
    DatasetSpec("pk", "Parkinsons", "parkinsons.data",
                "a148d3c47503f4f5b3842d3f995548da333eb2b4401f6bb8a65832d008aca5d5", (195, 23), 174,
                "parkinsons/parkinsons.data",
                lambda raw: _csv(raw, header=0).iloc[:, 1:], lambda df: df[_PK_COLUMNS]),
    DatasetSpec("qb", "QSAR Biodegradation", "biodeg.csv",
                "c66ac1a23aba11fb166fd5054fea14ac97b8e4f7e4940ae679dc863d1cc4b3c9", (1055, 41), 254,
                "00254/biodeg.csv",
                lambda raw: _drop_last(_csv(raw, header=None, sep=";")), lambda df: df.iloc[:, :41]),
    DatasetSpec("wqw", "Wine Quality (white)", "winequality-white.csv",
                "76c3f809815c17c07212622f776311faeb31e87610d52c26d87d6e361b169836", (4898, 11), 186,
                "wine-quality/winequality-white.csv",
                lambda raw: _drop_last(_csv(raw, header=0, sep=";")), _white_wine),
]}


if set(SPECS) != set(vocab.DATASETS):  # the registry and the vocabulary name the same datasets
    raise ImportError(f"dataset registry {sorted(SPECS)} differs from knewimp.vocab {sorted(vocab.DATASETS)}")


def dataset_names() -> list[str]:
    return list(vocab.DATASETS)


def default_data_dir() -> Path | None:
    """Where the raw UCI files are looked for when no ``data_dir`` is given: the environment
    variable ``KNEWIMP_DATA_DIR``, else a ``shared/data/uci`` folder beside the project checkout
    (the layout of a workplace that ships the files), else None (cache, then network)."""
    env = os.environ.get("KNEWIMP_DATA_DIR")
    if env:
        return Path(env).expanduser()
    beside = Path(__file__).resolve().parents[3] / "shared" / "data" / "uci"
    return beside if (beside / "SHA256SUMS").is_file() else None


def get_spec(name: str) -> DatasetSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; valid choices: {', '.join(vocab.DATASETS)}") from None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("KNEWIMP_CACHE_DIR", Path.home() / ".cache" / "knewimp"))


def _to_matrix(spec: DatasetSpec, frame: pd.DataFrame, source: str) -> np.ndarray:
    X = frame.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    if X.shape != spec.shape:
        raise DataError(f"{spec.key} from {source} has shape {X.shape}, expected {spec.shape}")
    return X


def _from_raw_file(spec: DatasetSpec, path: Path) -> np.ndarray:
    raw = path.read_bytes()
    digest = sha256_of(raw)
    if digest != spec.sha256:
        raise DataError(f"{path} has SHA-256 {digest[:16]}..., expected {spec.sha256[:16]}... "
                        f"(not the UCI file; replace it or remove it)")
    return _to_matrix(spec, spec.parse(raw), str(path))


def _cache_path(spec: DatasetSpec) -> Path:
    return cache_dir() / f"{spec.key}.npy"


def _write_cache(spec: DatasetSpec, X: np.ndarray) -> None:
    path = _cache_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, X)
    os.replace(tmp, path)


def _download(spec: DatasetSpec) -> np.ndarray:
    errors = []
    if spec.from_ucimlrepo is not None:
        try:
            from ucimlrepo import fetch_ucirepo

            frame = spec.from_ucimlrepo(fetch_ucirepo(id=spec.uci_id).data.original)
            return _to_matrix(spec, frame, f"ucimlrepo id {spec.uci_id}")
        except Exception as exc:  # ucimlrepo raises several types; fall through to the archive file
            errors.append(f"ucimlrepo: {exc}")
    url = ARCHIVE + spec.archive_path
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            raw = resp.read()
    except Exception as exc:
        errors.append(f"{url}: {exc}")
        raise DataError(f"could not download {spec.key} ({'; '.join(errors)})") from None
    if sha256_of(raw) != spec.sha256:
        raise DataError(f"downloaded {url} has SHA-256 {sha256_of(raw)[:16]}..., expected {spec.sha256[:16]}...")
    return _to_matrix(spec, spec.parse(raw), url)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool | None = None) -> np.ndarray:
    """Return the paper's raw (unscaled) feature matrix of dataset ``name`` as float64.

    ``name`` is one of ``bt bcd cc cbv is pk qb wqw``; see the module docstring for where the data
    is looked up. Raises :class:`DataError` with the directory searched and the file expected when
    nothing is found offline, and on any digest or shape mismatch.
    """
    spec = get_spec(name)
    data_dir = data_dir or default_data_dir()
    if download is None:
        download = os.environ.get("KNEWIMP_OFFLINE", "0") not in ("1", "true", "yes")
    if data_dir is not None:
        local = Path(data_dir).expanduser() / spec.file
        if local.is_file():
            return _from_raw_file(spec, local)
    cached = _cache_path(spec)
    if cached.is_file():
        X = np.load(cached)
        if X.shape == spec.shape:
            return X
    if not download:
        where = (f"{Path(data_dir).expanduser()}" if data_dir
                 else "no data directory (set the environment variable KNEWIMP_DATA_DIR or the config key data_dir)")
        raise DataError(f"dataset {name!r} not found offline: searched {where} for {spec.file} "
                        f"and the cache {cached}")
    try:
        X = _download(spec)
    except DataError as exc:  # say where a local copy would have been looked for, not only the network
        where = (f"{Path(data_dir).expanduser()}" if data_dir
                 else "no data directory (set the environment variable KNEWIMP_DATA_DIR or the config key data_dir)")
        raise DataError(f"dataset {name!r}: {spec.file} not found locally (searched {where} and the cache "
                        f"{cached}), and {exc}") from None
    _write_cache(spec, X)
    return X
