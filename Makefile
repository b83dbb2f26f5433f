# bio_gnn: the two README commands (`make run`, `make test`) and helpers.
# Both create .venv if it is missing and install the project (editable) into it; both are quick when it exists.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bio_gnn-installed
PROFILE ?= quick
NWORKERS ?= 2
FLAGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONWARNINGS ?= ignore::DeprecationWarning
# start-up noise of TensorFlow/absl/CUDA probes and Jupyter kernels, dropped from the test output (not from user code)
NOISE := ^WARNING: All log messages before absl::InitializeLog|^[IWE][0-9]{4} [0-9:.]+ +[0-9]+ [A-Za-z0-9_]+\.cc:[0-9]+\]|Kernel is running over TCP without encryption

.PHONY: run test test-slow install export readme lab bench gpu-check publish docs clean

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
	@touch $(STAMP)

install: $(STAMP)

## make run: the main job on the embedded default data, through papermill (quick profile)
run: install
	$(BIN)/bio_gnn run --profile $(PROFILE)

## make test: nbdev_export must leave bio_gnn/ unchanged, README must match nbs/index.ipynb, then nbdev_test
test: install
	$(BIN)/python -m bio_gnn.build check-export
	$(BIN)/python -m bio_gnn.build check-readme
	@set -o pipefail; OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 WANDB_MODE=disabled BIO_GNN_PROGRESS=0 TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/nbdev_test --n_workers $(NWORKERS) --timing --do_print --flags "$(FLAGS)" 2>&1 | sed -u -E '/$(NOISE)/d' | tee .nbdev_test.log; \
	  status=$$?; $(BIN)/python -m bio_gnn.build summarize-tests .nbdev_test.log $$status

## make test-slow: also the cells flagged #| slow
test-slow:
	$(MAKE) test FLAGS=slow

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

readme: install
	$(BIN)/python -m bio_gnn.build readme

lab: install
	$(BIN)/jupyter lab --notebook-dir=.

## make docs: the site. Quarto where installed (the executed chapters assembled in _proc/, then quarto render with _quarto.yml), else pandoc (bio_gnn.site), then checked in Chromium
docs: install
	@if command -v quarto >/dev/null 2>&1; then $(BIN)/python -m bio_gnn.site quarto --out _proc && quarto render _proc && echo "site in _proc/_site"; else $(BIN)/python -m bio_gnn.site build --out _site --check --screenshots figures; fi

bench: install
	$(BIN)/python bench/knn.py

## make gpu-check: the GPU steps (device, mixed precision, k-NN, design-size epochs) into runs/<timestamp>-gpu_check/; skips without a GPU
gpu-check: install
	$(BIN)/python bench/gpu_check.py

## make publish RUN=runs/<id>: copy a run's results/ and figures/ into the published ones (bio_gnn publish)
publish: install
	$(BIN)/bio_gnn publish $(RUN)

clean:
	rm -rf $(VENV) _proc _docs _site
