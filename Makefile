# Two commands for users: `make demo` and `make test`. Both set up the
# environment first (scripts/bootstrap.sh: idempotent, seconds when done).
SHELL := /bin/bash
RUN := source scripts/env.sh &&
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup demo test test-core test-ros bench eval clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	@$(RUN) seg-perception demo $(DEMO_ARGS)

test: setup
	@bash scripts/build_test_interfaces.sh
	@$(RUN) python -m pytest $(PYTEST_ARGS)

test-core: setup
	@$(RUN) python -m pytest test/core $(PYTEST_ARGS)

test-ros: setup
	@bash scripts/build_test_interfaces.sh
	@$(RUN) python -m pytest test/ros $(PYTEST_ARGS)

bench: setup
	@$(RUN) seg-perception bench

clean:
	rm -rf .build out
