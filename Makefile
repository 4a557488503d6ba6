# vrft: `make run` runs the default experiment, `make test` the test suite; each sets up .venv when it is
# missing or older than pyproject.toml or constraints.txt. torch is pinned in the same install so pip takes the CPU
# wheel here; constraints.txt pins every other package's exact version (results depend on library code).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0
STAMP   := $(VENV)/.installed
EXTRAS  := dev,lvis,wandb-reports,joblib,official,bench,qwen-vocab

.PHONY: run test test-quick lint format bench golden clean-cache

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt "$(TORCH)" -e ".[$(EXTRAS)]"
	touch $(STAMP)

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
