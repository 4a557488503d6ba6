# vrft: `make run` runs the default experiment, `make test` the test suite; each sets up .venv when it is
# missing or older than pyproject.toml or constraints.txt. torch is pinned in the same install so pip takes the CPU
# wheel here; constraints.txt pins every other package's exact version (results depend on library code).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0
STAMP   := $(VENV)/.installed
EXTRAS  := dev,lvis,wandb-reports,joblib,official,bench,qwen-vocab

.PHONY: run test test-quick lint format bench golden clean-cache consumer-env

# The export tests' second environment: a user's, with torchvision, in which tests/test_export.py loads a saved
# final_model/ with AutoProcessor and pipeline(). PyPI has no torchvision that imports beside the pinned CPU torch,
# so it takes the CUDA build of the next torch with its torchvision (about 6 GB; it runs on the CPU). Optional;
# CI builds it (.ci/run).
CONSUMER       := .venv-consumer
CONSUMER_TORCH ?= torch==2.14.1 torchvision==0.29.1

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt "$(TORCH)" -e ".[$(EXTRAS)]"
	touch $(STAMP)

$(CONSUMER)/.installed: pyproject.toml constraints.txt
	test -x $(CONSUMER)/bin/python || $(PY) -m venv $(CONSUMER)
	$(CONSUMER)/bin/python -m pip install -q --upgrade pip
	$(CONSUMER)/bin/python -m pip install -q -c constraints.txt $(CONSUMER_TORCH) -e ".[dev]"
	touch $@

consumer-env: $(CONSUMER)/.installed

run: $(STAMP)
	$(BIN)/python -m vrft $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m vrft.bench $(ARGS)

golden: $(STAMP)  # after an intended change of a default: rewrite the golden composed config, review its diff
	$(BIN)/python -m tests.test_golden_config

clean-cache:
	rm -rf .cache
