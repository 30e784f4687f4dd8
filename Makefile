# The two commands of the README. Both create .venv/ on first use.
PYTEST_ARGS ?=
# two workers, one thread each; each takes whole test modules, longest first (tests/conftest.py)
PYTEST_WORKERS ?= 2
DEMO_ARGS ?=

.PHONY: demo test setup clean

setup: .venv/.setup-done

.venv/.setup-done: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

demo: setup
	.venv/bin/coqui-meta demo $(DEMO_ARGS)

test: setup
	.venv/bin/ruff check .
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

clean:
	rm -rf .venv
