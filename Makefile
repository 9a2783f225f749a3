# The two commands of the README. Both create or update .venv first (with the atari, mujoco, sweep and
# multiagent and, where it installs, envpool extras, so that their tests run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test lint bench sfvenv

# EnvPool has wheels for Linux x86-64 only: elsewhere its tests skip rather than the install failing.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,atari,mujoco,sweep,multiagent]"
	$(PY) -m pip install -q -c constraints.txt -e ".[envpool]" || echo "envpool did not install: its tests will skip"
	touch $(STAMP)

# Train PPO on the native CartPole-v1; prints the evaluation score and the run folder, writes the learning curve.
train: $(STAMP)
	$(PY) -m thrust train ppo --env CartPole-v1

# Rerun benchmarks/*.py (with the peers of the bench extra, where they install) and refresh BENCHMARKS.md.
bench: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,bench]" || echo "some peers did not install: their rows will be missing"
	$(MAKE) sfvenv || echo "Sample Factory did not install: its rows in async_throughput will be skipped"
	$(PY) -m thrust bench

# Sample Factory (a peer of benchmarks/async_throughput.py) pins gymnasium 0.29 and numpy 1.26, which Thrust's
# venv cannot share: it gets a venv of its own, where that script looks for it (THRUST_SF_PYTHON overrides).
SF_VENV ?= /tmp/sfvenv
sfvenv:
	test -x $(SF_VENV)/bin/python || $(PYTHON) -m venv $(SF_VENV)
	$(SF_VENV)/bin/pip install -q torch==2.13.0 sample-factory==2.1.1

# One pytest worker per core: most tests train with one torch thread, so a single process leaves cores idle.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n auto --dist worksteal

lint: $(STAMP)
	$(VENV)/bin/ruff check .
