# olkit: the two commands a new user needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ONLY ?=
PROFILE ?= demo
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test bench lab data venv system-deps lint clean-runs

venv: $(STAMP)

# Re-installs whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "olkit needs Python 3.11 ($(PY) not found); set PY=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# olkit moved from tensorflow-cpu to tensorflow (the same modules): an older venv must drop the first
	$(BIN)/python -m pip uninstall --quiet --yes tensorflow-cpu 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests need: Chromium for the JupyterLab browser test, PostgreSQL for the team label store.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

data: $(STAMP)
	$(BIN)/olkit data

run: $(STAMP)
	$(BIN)/olkit data
	$(BIN)/olkit run --profile $(PROFILE)

lint: $(STAMP)
	$(BIN)/ruff check olkit tests benchmarks
	$(BIN)/ruff format --check olkit tests benchmarks
	$(BIN)/mypy olkit

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(if $(ONLY),--only $(ONLY),)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
