# The two commands of the README: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run
SOURCE ?= $(MOVIEREC_SOURCE)

.PHONY: run test lint venv clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# make run needs only the core and Prefect (the [flow] extra); make test installs everything.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[flow]'
	touch $(RUN_STAMP)

venv: $(STAMP)

## run: the whole pipeline on ml-100k, ending with the top-5 movies for user 1
run: $(RUN_STAMP)
	$(BIN)/movierec pipeline --user 1 -n 5 $(if $(SOURCE),--source $(SOURCE),)

## test: lint + the full test suite
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	MOVIEREC_STRICT_TESTS=1 $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
