# Two commands do all set-up: `make lab` (the notebooks) and `make test` (every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install system-deps lab test lint bench clean-notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(STAMP)

# Debian packages the tests use: Chromium for the browser test, and Debian's
# redis-server 7.0 as a real too-old server the version check must refuse.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lab: install
	$(BIN)/jupyter lab $(ROOT_FLAG) --notebook-dir=notebooks

test: install system-deps lint
	$(BIN)/python -m pytest --nbmake --nbmake-timeout=120 tests $(wildcard notebooks/*.ipynb)

# ruff (lint and format) and mypy, as configured in pyproject.toml; part of `make test`.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Outputs, execution counts, widget state and run metadata out; kernelspec and cell tags stay.
clean-notebooks: install
	$(BIN)/jupyter nbconvert --log-level=WARN --clear-output --inplace \
	  --ClearMetadataPreprocessor.enabled=True \
	  --ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec \
	  --ClearMetadataPreprocessor.preserve_nb_metadata_mask=language_info \
	  --ClearMetadataPreprocessor.preserve_cell_metadata_mask=tags \
	  notebooks/*.ipynb

bench: install
	$(BIN)/python -m benchmarks
