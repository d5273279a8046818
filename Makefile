# Two commands: `make run` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8501
export PYTHON VENV

.PHONY: run test setup setup-dev bench clean-cache

run: setup
	$(VENV)/bin/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT)

test: setup-dev
	$(VENV)/bin/python -m pytest

setup:
	@bash scripts/setup.sh

setup-dev:
	@bash scripts/setup.sh --dev

bench: setup-dev
	$(VENV)/bin/python -m benchmarks

clean-cache:
	$(VENV)/bin/python -m core cache clear
