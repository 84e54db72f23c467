# knewimp: every target installs the virtualenv first when it is missing.
#   make test        the test suite (tiny data, quick settings)
#   make reproduce   the paper's full grid (resumable), then tables and figures
#   make quick       a small real sweep (bt, cc x 3 mechanisms x mean, mice x 3 seeds) and its tables
#   make faithful    TDM and GAIN with their published settings on the same grid (extra table columns)
#   make ablation    the entropy-weight ablation and the sensitivity sweep on cc, then their figures
#   make tables      tables and figures from the records in results/runs
# Variables: PYTHON (interpreter for the venv), JOBS (parallel local cells via the joblib launcher;
#   default: the number of cores, JOBS=1 runs them one by one),
# KNEWIMP_DATA_DIR (raw UCI files; defaults to ../shared/data/uci when that folder exists),
# STOP_AT (start no cell that would not finish by then, e.g. STOP_AT=2026-11-27T04:40; held cells
#   run on the next launch).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# one cell per core by default: cells use one torch thread each (configs/config.yaml: threads)
JOBS ?= $(shell $(PYTHON) -c 'import os; print(os.cpu_count() or 1)')
TORCH_VERSION ?= 2.13.0

ifeq ($(origin KNEWIMP_DATA_DIR), undefined)
  ifneq ($(wildcard ../shared/data/uci/SHA256SUMS),)
    export KNEWIMP_DATA_DIR := $(abspath ../shared/data/uci)
  endif
endif

ifeq ($(JOBS),1)
  LAUNCH :=
else
  LAUNCH := hydra/launcher=joblib hydra.launcher.n_jobs=$(JOBS)
endif

ifneq ($(STOP_AT),)
  DEADLINE := stop_at=$(STOP_AT)
endif

RUN := $(PY) -m knewimp.run

.PHONY: install test reproduce faithful quick ablation tables bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==$(TORCH_VERSION)
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	WANDB_MODE=disabled $(PY) -m pytest

reproduce: $(STAMP)
	$(RUN) -m experiment=reproduce $(LAUNCH) $(DEADLINE)
	$(MAKE) tables

faithful: $(STAMP)
	$(RUN) -m experiment=faithful $(LAUNCH) $(DEADLINE)
	$(MAKE) tables

quick: $(STAMP)
	$(RUN) -m experiment=quick $(LAUNCH)
	$(PY) -m knewimp.tables --results-dir results/quick --out results/quick/tables

ablation: $(STAMP)
	$(RUN) -m experiment=ablation_entropy $(LAUNCH) $(DEADLINE)
	$(RUN) -m experiment=sensitivity $(LAUNCH) $(DEADLINE)
	$(PY) -m knewimp.ablation

tables: $(STAMP)
	$(PY) -m knewimp.tables
	$(PY) -m knewimp.grid --experiment reproduce --results-dir results --jobs $(JOBS) --write results/tables/grid_status.md
	$(PY) -m knewimp.grid --experiment faithful --results-dir results --jobs $(JOBS) --write results/tables/grid_status_faithful.md
	$(PY) -m knewimp.readme_tables README.md --tables results/tables

clean-venv:
	rm -rf $(VENV)
