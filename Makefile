# The two commands of the README. Both create or update .venv first (with the atari, mujoco, sweep and
# multiagent and, where it installs, envpool extras, so that their tests run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test lint bench

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
	$(PY) -m thrust bench

# One pytest worker per core: most tests train with one torch thread, so a single process leaves cores idle.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n auto --dist worksteal

lint: $(STAMP)
	$(VENV)/bin/ruff check .
