# The two commands a newcomer needs: `make demo` and `make test`. Everything they need is set up
# on first use in .venv (Python packages) and .tools (buf, from npm).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

.PHONY: setup demo test test-fast lint lint-protos breaking generate clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m demo

test: setup
	$(PY) -m pytest -q

lint: setup lint-protos
	$(PY) -m ruff check .

$(BUF):
	mkdir -p .tools
	cd .tools && npm install --silent --no-audit --no-fund --no-save @bufbuild/buf@$(BUF_VERSION)

lint-protos: $(BUF)
	cd protos && ../$(BUF) lint

# Compatibility of the contracts against main (skipped when there is no main to compare with).
breaking: $(BUF)
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:protos/buf.yaml 2>/dev/null; then \
		cd protos && ../$(BUF) breaking --against '../.git#branch=main,subdir=protos'; \
	else echo "buf breaking: no main with protos to compare against yet"; fi

generate: setup
	$(PY) tools/generate_protos.py

clean:
	rm -rf $(VENV) .tools .pytest_cache
