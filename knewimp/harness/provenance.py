"""What a record says about the code and the software that produced it."""
from __future__ import annotations

import hashlib
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

#: Packages whose code decides a result (the method and the baselines; in the repository the
#: baselines live in the top-level baselines/ folder, installed as knewimp.baselines).
CODE_PACKAGES = ("knewimp", "knewimp.baselines")


def code_files() -> list[tuple[str, Path]]:
    """``(name, path)`` of every Python source of :data:`CODE_PACKAGES`, each file once, named
    relative to its package's folder (the same names in a checkout and in an installed wheel)."""
    import importlib.util

    seen, out = set(), []
    for package in CODE_PACKAGES:
        spec = importlib.util.find_spec(package)
        for folder in map(Path, spec.submodule_search_locations or ()):
            for path in sorted(folder.rglob("*.py")):
                real = path.resolve()
                if real not in seen:
                    seen.add(real)
                    out.append((f"{package}/{path.relative_to(folder).as_posix()}", real))
    return sorted(out)
PACKAGES = ("knewimp", "torch", "numpy", "scipy", "scikit-learn", "POT", "hydra-core", "pandas")


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def host_description() -> dict:
    """The machine a measurement ran on, as benchmark files name it: architecture, processor, CPU
    count, torch build and the GPU torch sees (None without one)."""
    import os

    import torch

    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def code_fingerprint() -> str:
    """SHA-256 (12 hex digits) of the Python sources of the package and the baselines."""
    h = hashlib.sha256()
    for name, path in code_files():
        h.update(name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


# Taken when this module is imported, i.e. when a sweep's worker process starts.
LOADED_CODE = code_fingerprint()


def code_changed() -> str | None:
    """A sweep's worker outlives edits made while it runs: modules it imported before hold the
    old code, modules it imports later (methods load lazily) the new one. A worker whose sources
    changed since it started therefore starts no further cell; this says why, or None."""
    now = code_fingerprint()
    if now != LOADED_CODE:
        return f"knewimp/ or baselines/ changed under this process (code {LOADED_CODE} -> {now}); restart the sweep"
    return None


#: The suffix of a commit whose package sources had uncommitted changes, then their digest.
DIRTY = "-dirty"


def _git(args: list[str], cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          timeout=10).stdout


def _source_folders() -> list[Path]:
    """The folders of the packages whose sources decide a result, configs included."""
    import importlib.util

    out = []
    for package in (*CODE_PACKAGES, "knewimp.configs"):
        spec = importlib.util.find_spec(package)
        out += [Path(p).resolve() for p in (spec.submodule_search_locations or ()) if spec]
    return out


def uncommitted_digest(root: Path, folders: list[Path]) -> str | None:
    """SHA-256 (12 hex digits) of the package sources under ``folders`` that differ from the
    checkout's HEAD (modified, added, deleted or untracked), each named and hashed with its
    content; None when they are all as committed. Files outside the packages (docs, records)
    do not count: they cannot change a result."""
    paths = [f.relative_to(root).as_posix() for f in folders if f.is_relative_to(root)]
    if not paths:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=all", "--", *paths], root)
    changed = sorted({line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if line.strip()})
    changed = [c for c in changed if c.endswith((".py", ".yaml"))]
    if not changed:
        return None
    h = hashlib.sha256()
    for name in changed:
        path = root / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"<deleted>") + b"\0")
    return h.hexdigest()[:12]


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit the code ran from: ``<sha>``, or ``<sha>-dirty-<digest>`` when the package
    sources had uncommitted changes (:func:`uncommitted_digest`: two runs with the same digest ran
    the same code); ``unknown`` outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        root = Path(_git(["rev-parse", "--show-toplevel"], here).strip()).resolve()
        sha = _git(["rev-parse", "HEAD"], root).strip()
        digest = uncommitted_digest(root, _source_folders())
        return sha + (f"{DIRTY}-{digest}" if digest else "")
    except (OSError, subprocess.SubprocessError, ValueError):
        return "unknown"


def from_uncommitted_code(commit: str | None) -> bool:
    """Whether a record's ``git_commit`` says it ran code that differed from its commit."""
    return DIRTY in str(commit or "")
