# certrepo — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ./data

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install certrepo with its test extras

run: $(STAMP) ## initialise ./data once (prints the admin and an access key), then serve on :8080
	@$(BIN)/certrepo init --data-dir $(DATA)
	$(BIN)/certrepo serve --data-dir $(DATA)

test: $(STAMP) ## the whole suite, on SQLite and on a throwaway PostgreSQL cluster
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

bench: $(STAMP) ## benchmarks; figures go to BENCHMARKS.md by hand
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
