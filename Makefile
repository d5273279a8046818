# Two commands: `make run` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8501
TEST_WORKERS ?= 2
export PYTHON VENV

.PHONY: run test test-fast setup setup-dev bench clean-cache

run: setup
	$(VENV)/bin/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT)

# The whole suite (CI runs this), on TEST_WORKERS processes (pytest-xdist). A test file
# runs on one worker, so its module fixtures (a Ray cluster, a published bundle, UMAP's
# compile) are made once (xdist_group marks are ignored under pytest 9.2: xdist 3.8
# renames item._nodeid, which pytest 9.2 no longer reads).
test: setup-dev
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The unit tests: neither slow (see pytest.ini) nor browser.
test-fast: setup-dev
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow and not browser"

setup:
	@bash scripts/setup.sh

setup-dev:
	@bash scripts/setup.sh --dev

bench: setup-dev
	$(VENV)/bin/python -m benchmarks

clean-cache:
	$(VENV)/bin/python -m core cache clear
