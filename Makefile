# Two commands do all the set-up on a fresh machine (Python 3.11+ and make present):
#   make demo   - create .venv, install the project, run the main job
#   make test   - create .venv, install the project with its test extras, run every check
# Re-running either is fast: the install steps re-run only when pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

CHROMIUM := /usr/bin/chromium

DEMO_PORT ?= 8080
# Strict nbval (outputs compared) with a replay of the bundled capture for the live sections.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
         --openagi-capture data/sample_capture.jsonl.gz

.PHONY: demo test browser js-deps notebooks bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-lab: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-lab

# The replay server on the bundled capture (10x, looping) and JupyterLab on the notebooks,
# the quickstart pointed at the server; Ctrl-C stops both.
demo: $(VENV)/.installed-lab
	@$(BIN)/openagi-nb serve data/sample_capture.jsonl.gz --port $(DEMO_PORT) --speed 10 --loop & \
	server=$$!; trap 'kill $$server 2>/dev/null' EXIT INT TERM; \
	OPENAGI_NB_URL=http://127.0.0.1:$(DEMO_PORT) $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/00_quickstart.ipynb

# Re-execute the notebooks in place and store their outputs (after a change to their results).
notebooks: $(VENV)/.installed-test
	$(BIN)/python tools/run_notebooks.py

# The browser test drives JupyterLab in Debian's Chromium (never a downloaded browser build).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is not installed and this is not root: the browser test will be skipped"; \
	  fi; \
	fi

# The JavaScript example client (docs/examples/batch_client.js) needs npm's ws 8: installed once
# into .cache/node (git-ignored; its test sets NODE_PATH to it), never into the project.
WS_PACKAGE := .cache/node/node_modules/ws/package.json

js-deps:
	@if [ -f $(WS_PACKAGE) ]; then :; \
	elif command -v npm >/dev/null; then \
	  npm install --silent --no-save --no-audit --no-fund --prefix .cache/node ws@8; \
	else \
	  echo "npm is not installed: the JavaScript example client's test will be skipped"; \
	fi

test: $(VENV)/.installed-test browser js-deps
	$(BIN)/ruff check openagi_nb tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/pytest
	$(BIN)/pytest $(NBVAL) notebooks/

bench: $(VENV)/.installed-test
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .cache .mypy_cache .pytest_cache .ruff_cache build *.egg-info bench-data
