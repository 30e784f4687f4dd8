# The two commands of the README. Both create .venv/ on first use.
PYTEST_ARGS ?=
# two workers, one thread each; each takes whole test modules, longest first (tests/conftest.py)
PYTEST_WORKERS ?= 2
DEMO_ARGS ?=

.PHONY: demo test docs setup clean

setup: .venv/.setup-done

.venv/.setup-done: pyproject.toml lab/pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

demo: setup
	.venv/bin/coqui-meta demo $(DEMO_ARGS)

# the linters (ruff, and lint-imports for the import contracts in pyproject.toml), the docs, the plugin installed into a user's own environment (scripts/user_env.sh), then the tests
test: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	$(MAKE) --no-print-directory docs
	bash scripts/user_env.sh
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# the docs (Sphinx + MyST) into docs/_build/html, warnings as errors; the references are generated from the code
docs: setup
	.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf .venv .user-env docs/_build docs/_generated
