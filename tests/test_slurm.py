"""A real Slurm: a one-node cluster from Debian's slurm-wlm and munge (scripts/slurm_cluster.sh)
runs a sweep through hydra/launcher=submitit_slurm, whose records equal a local run's and the
committed ones, and resumes it. `make test-slurm` runs it (it installs packages and starts daemons, so plain
`pytest` deselects the `slurm` marker); it skips only where Slurm cannot be installed (no
apt-get, or neither root nor passwordless sudo), with that reason."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knewimp.harness.records import load_records

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_cluster.sh"
CLUSTER_DIR = Path(os.environ.get("KNEWIMP_SLURM_DIR", "/tmp/knewimp-slurm"))
PARTITION = os.environ.get("KNEWIMP_SLURM_PARTITION", "debug")
CANNOT_INSTALL = 3  # the script's exit code where Slurm cannot be installed here
SWEEP = ["-m", "dataset=bt", "mechanism=mcar,mar", "method=mean/published,mice/single", "seed=0"]
# What makes two records the same result: the cell, its mask, its scores.
SAME = ("cell_id", "status", "mask_digest", "n", "d", "realised_missing_rate", "params", "mae", "rmse", "wass",
        "wass_method")


def cluster(action):
    return subprocess.run([str(SCRIPT), action], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, KNEWIMP_SLURM_DIR=str(CLUSTER_DIR), KNEWIMP_SLURM_PARTITION=PARTITION))


def sweep(results, sweep_dir, *launcher, env=None):
    proc = subprocess.run([sys.executable, "-m", "knewimp.harness.run", *SWEEP, f"results_dir={results}",
                           f"hydra.sweep.dir={sweep_dir}", *launcher],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, WANDB_MODE="disabled", HYDRA_FULL_ERROR="0", **(env or {})))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return {r["cell_id"]: r for r in load_records(results)}, proc.stdout + proc.stderr


def slurm_jobs(submitit_folder, env):
    """(JobState, ExitCode, Partition) of the cluster's jobs whose output went to submitit_folder,
    once they have ended: submitit returns when a job has written its result, a moment before the
    job itself ends (slurmctld keeps ended jobs for MinJobAge, 300 s)."""
    for _ in range(120):
        out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, check=True,
                             env=env).stdout
        jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines()]
        ours = sorted((j["JobState"], j["ExitCode"], j["Partition"]) for j in jobs
                      if j.get("StdOut", "").startswith(str(submitit_folder)))
        if not any(state in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING") for state, _, _ in ours):
            return ours
        time.sleep(0.5)
    return ours


def test_a_sweep_through_slurm_equals_a_local_run_and_the_committed_records(tmp_path):
    local, _ = sweep(tmp_path / "local", tmp_path / "local_sweep")
    assert len(local) == 4 and all(r["status"] == "ok" for r in local.values())

    was_running = (CLUSTER_DIR / "slurm.conf").exists()
    started = cluster("start")
    if started.returncode == CANNOT_INSTALL:
        pytest.skip(started.stderr.strip().splitlines()[-1])
    assert started.returncode == 0, started.stdout + started.stderr
    env = dict(os.environ, SLURM_CONF=str(CLUSTER_DIR / "slurm.conf"),
               PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    daemons = [int(p.read_text()) for p in (CLUSTER_DIR / "slurmctld.pid", CLUSTER_DIR / "slurmd.pid",
                                            CLUSTER_DIR / "munge" / "munged.pid")]
    results = tmp_path / "slurm"

    def on_slurm(launch):  # the recipe of docs/slurm.md
        return sweep(results, tmp_path / f"sweep{launch}", "hydra/launcher=submitit_slurm",
                     f"hydra.launcher.partition={PARTITION}", "hydra.launcher.timeout_min=10",
                     "hydra.launcher.cpus_per_task=1", f"hydra.launcher.submitit_folder={tmp_path}/submitit{launch}/%j",
                     env={"SLURM_CONF": env["SLURM_CONF"]})

    try:
        slurm_recs, _ = on_slurm(1)
        jobs = slurm_jobs(tmp_path / "submitit1", env)
        # Resuming: the same command submits again only the cell whose record is missing.
        lost = min(slurm_recs)
        (results / "runs" / f"{lost}.json").unlink()
        resumed, log = on_slurm(2)
        resumed_jobs = slurm_jobs(tmp_path / "submitit2", env)
    finally:
        stopped = None if was_running else cluster("stop")
    # Slurm ran every cell as a job of the array, each to completion.
    assert jobs == [("COMPLETED", "0:0", PARTITION)] * 4
    assert "4 cells, 3 with ok records, 1 to run; launching 1 jobs" in log
    assert resumed_jobs == [("COMPLETED", "0:0", PARTITION)]
    assert {f: resumed[lost][f] for f in SAME} == {f: slurm_recs[lost][f] for f in SAME}
    if stopped is not None:
        assert stopped.returncode == 0, stopped.stderr
        assert not CLUSTER_DIR.exists()
        for pid in daemons:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)

    assert sorted(slurm_recs) == sorted(local)
    for cid, rec in slurm_recs.items():
        assert {f: rec[f] for f in SAME} == {f: local[cid][f] for f in SAME}, cid

    # The committed grid holds these cells: same identity and mask; scores equal up to the last
    # bits another machine's BLAS may change.
    committed = {r["cell_id"]: r for r in load_records(ROOT / "results") if r["cell_id"] in local}
    assert sorted(committed) == sorted(local)
    for cid, rec in committed.items():
        assert rec["mask_digest"] == local[cid]["mask_digest"], cid
        for metric in ("mae", "rmse", "wass"):
            assert local[cid][metric] == pytest.approx(rec[metric], rel=1e-9), (cid, metric)
