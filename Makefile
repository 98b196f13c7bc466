# Two commands do all set-up: `make lab` (the notebooks) and `make test` (every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install system-deps lab test paced lint bench book clean-notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(STAMP)

# Programs some tests use beyond pip (tests/system_deps.py): Chromium for the browser test, and
# Debian's redis-server 7.0 as a real too-old server the version check must refuse. Installed
# with apt-get on Debian/Ubuntu as root (as in CI). Elsewhere (macOS, no root) nothing is
# installed and those tests skip, saying how to get them.
system-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "system-deps: no apt-get here; the tests that need$$missing will skip"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "system-deps: not root; the tests that need$$missing will skip (sudo make system-deps installs them)"; \
	else \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lab: install
	$(BIN)/jupyter lab $(ROOT_FLAG) --notebook-dir=notebooks

# Every test, every notebook under nbmake, and the time-sensitive notebooks at a reader's pace
# (tests/test_notebooks_paced.py).
test: install system-deps lint
	$(BIN)/python -m pytest --nbmake --nbmake-timeout=120 tests $(wildcard notebooks/*.ipynb)

# Every notebook cell by cell with a reader's pause before each code cell (FSLIB_PACE_SECONDS,
# 10 s by default) while two busy processes load the CPUs: about 2-5 minutes per notebook.
paced: install
	FSLIB_PACED=all $(BIN)/python -m pytest tests/test_notebooks_paced.py

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

# The notebooks as a static site (book/): each one executed once, on the embedded Redis, then built by Sphinx
# offline into build/book/html; it prints where the site is and how to open it. `make test` builds it too
# (tests/test_book.py).
book: install
	$(BIN)/python -m book
