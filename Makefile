# The README's two commands: `make demo` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= default

.PHONY: install test test-fast demo eval models triton serve proto clean

# One environment for serving, model building and tests, pinned by constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[serve,models,eval,dev]"
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

demo: install
	$(BIN)/babelrag-server demo --profile $(PROFILE)

# Retrieval, language identification, answer language and MIRAGE on ../shared/data/xquad.
XQUAD ?= ../shared/data/xquad
EVAL_ARGS ?=
eval: install
	$(BIN)/babelrag-eval all --squad $(XQUAD) --profile $(PROFILE) --out results $(EVAL_ARGS)

models: install
	$(BIN)/babelrag-server models build --profile $(PROFILE)

triton: install
	$(BIN)/babelrag-server triton --profile $(PROFILE)

clean:
	rm -rf $(VENV) data/models build
