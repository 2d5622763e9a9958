# The README's commands: `make run` (demo against the bundled simulator) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# `make install`: the runtime only (no test tools), e.g. `sudo make install PREFIX=/opt/log-monitor`.
PREFIX ?= .venv-runtime

.PHONY: run test slow lint bench faults mutate setup clean install

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) log_monitor.py demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Four workers (pytest-xdist) on two cores: most of the suite waits on loopback servers and child processes.
# tests.prerequisites first: chromium, tmux and the Wazuh spec missing are one line saying what to install.
# The slow tier (`-m slow`) is left to `make slow`.
test: $(STAMP) lint
	$(PY) -m tests.prerequisites
	$(PY) -m pytest -n 4 -m "not slow"

# The slow tier: the day- and week-long simulations, the scale tests (thousands of agents or rows), the
# install and the kill -9 pass test, one at a time, each given 10 minutes (several times its time alone
# on a busy machine: docs/testing.md).
slow: $(STAMP)
	$(PY) -m pytest -m slow --timeout=600

# Mutation testing of the core (policy, judge, the merge, the page reader) with its own fast test modules, as
# pyproject's [tool.mutmut] says; niced and two children, so a shared machine stays usable. Score: docs/testing.md.
mutate: $(STAMP)
	rm -rf mutants
	nice -n 15 $(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# The fault suite in full: kill -9 repeated 50 times, fuzzing with 10x the examples (`make test` runs a fast form).
faults: $(STAMP)
	FAULT_REPEATS=50 $(PY) -m pytest tests/faults -q

bench: $(STAMP)
	$(PY) -m benchmarks

# A venv with the pinned runtime requirements and this package: `$(PREFIX)/bin/log-monitor`.
install:
	$(PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/python -m pip install --quiet --upgrade pip
	$(PREFIX)/bin/python -m pip install --quiet -r requirements.txt .
	rm -rf build log_monitor.egg-info  # setuptools' leftovers in the checkout
	@echo "installed: $(PREFIX)/bin/log-monitor"

clean:
	rm -rf $(VENV) .venv-runtime build *.egg-info .mypy_cache .ruff_cache .pytest_cache mutants
