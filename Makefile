# The two commands a newcomer needs: `make demo` and `make test`. Everything they need is set up
# on first use in .venv (Python packages) and .tools (buf, from npm).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

.PHONY: setup demo certs test test-fast lint lint-protos typecheck breaking generate clean simulate

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m demo

# The development CA and certificates in .data/tls (kept if they exist; the services also make
# them on first start with the embedded database). More names for the server certificate:
# `make certs HOSTS="billing.internal 10.0.0.7"`.
certs: setup
	$(PY) -m billing_common.devcerts --out .data/tls $(foreach host,$(HOSTS),--host $(host))

test: setup k8s-tools browser-tools portal-deps kafka-tools
	$(PY) -m pytest -q

# The customer page's browser test (tests/e2e/test_customer_page.py) drives Debian's chromium
# with Playwright (a dev dependency; its own browser downloads are never used). Installed with
# apt-get when missing (needs root; without it the test skips, saying why).
.PHONY: browser-tools portal-deps screenshot
browser-tools:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "browser-tools: not root, chromium not installed (the customer page's browser test skips)"; fi

# The page's chart library, pinned in portal/package.json (portal/vendor/chart.umd.js is its
# copy, checked by tests/unit/test_portal_vendor.py).
portal/node_modules/.installed: portal/package.json portal/package-lock.json
	cd portal && npm ci --silent --no-audit --no-fund
	touch $@

portal-deps: portal/node_modules/.installed

# docs/customer-page.png, the README's picture of the page, taken by the browser test.
screenshot: setup browser-tools
	PORTAL_SCREENSHOT=$(CURDIR)/docs/customer-page.png $(PY) -m pytest -q tests/e2e/test_customer_page.py

# The seeded simulator (docs/simulator.md). `make simulate SEED=123` replays one seed (what a
# failure prints); `make simulate SEEDS=2000 WORKERS=2` runs seeds 0..1999 (START=… to shift).
SEEDS ?= 200
WORKERS ?= 1
START ?= 0
simulate: setup
	$(PY) -m tests.sim $(if $(SEED),--seed $(SEED),--seeds $(SEEDS) --start $(START) --workers $(WORKERS)) $(if $(STEPS),--steps $(STEPS))

lint: setup lint-protos typecheck
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy --strict (the pinned mypy and stubs are dev dependencies): billing_common, both services, the demo
# and the CLI (configuration in pyproject.toml; the generated code in gen/ is not checked), then
# the Python client (clients/python/pyproject.toml).
typecheck: setup
	$(PY) -m mypy
	$(MAKE) --no-print-directory typecheck-clients

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
	$(PY) tools/generate_openapi.py
	$(MAKE) --no-print-directory generate-clients

clean:
	rm -rf $(VENV) .tools .pytest_cache

# Clients (clients/): Go and TypeScript generated from protos/ by buf with pinned local plugins,
# installed on first use into .tools/bin and clients/ts/node_modules (needs go, node and npm on
# PATH); the Python client is clients/python, over gen/python. `make test` checks the generated
# clients are fresh and runs the Go and TypeScript examples against the ledger (tests/interop).
.PHONY: generate-clients build-clients typecheck-clients

generate-clients: setup
	$(PY) tools/generate_clients.py

# go vet + build the Go example (.tools/bin/billing-example-go); tsc the TypeScript client.
build-clients: setup
	$(PY) tools/clients_toolchain.py build

# mypy --strict on the Python client, with the same pinned mypy as `make typecheck`.
typecheck-clients: setup
	cd clients/python && ../../$(PY) -m mypy

# Load tests and benchmark (bench/, docs/benchmarks.md): ghz (pinned, installed with `go install`
# into .tools/bin; needs go on PATH) against both services on a fresh embedded PostgreSQL in
# .data/bench, with the echo server and pgbench references measured in the same run.
# `make bench-quick` takes about a minute (short soak); `make bench` about six or seven (2-minute
# soak); `make bench-3` three full runs and the median of each target (about twenty).
# BENCH_ARGS adds options, e.g. `make bench BENCH_ARGS="--workers 2"` (bench/run.py --help).
.PHONY: bench bench-quick bench-3 bench-tools
GHZ_VERSION := v0.121.0

.tools/bin/.ghz-$(GHZ_VERSION):
	mkdir -p .tools/bin
	GOBIN=$(CURDIR)/.tools/bin go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
	touch $@

bench-tools: .tools/bin/.ghz-$(GHZ_VERSION)

bench: setup bench-tools
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: setup bench-tools
	$(PY) bench/run.py --quick $(BENCH_ARGS)

bench-3: setup bench-tools
	$(PY) bench/run.py --runs 3 $(BENCH_ARGS)

# Kafka topic to booked ledger debits against IngestEvents, in one run (bench/kafka_e2e.py; about
# half a minute for the default 20,000 events each way). BENCH_ARGS="--events N" to change it.
.PHONY: bench-kafka
bench-kafka: setup kafka-tools
	$(PY) bench/kafka_e2e.py $(BENCH_ARGS)

# The ledger's process settings compared in one run (gc default vs tuned, 1 vs 2 workers; about
# six minutes): bench/processes.py.
.PHONY: bench-processes
bench-processes: setup bench-tools
	$(PY) bench/processes.py

# The Kubernetes manifests' checker (deploy/k8s, tests/unit/test_k8s_manifests.py): kubeconform
# (`go install`, a few seconds) and the Kubernetes JSON schemas it checks against, from the
# kubernetes-validate package (PyPI; kubeconform's own schemas are downloaded from a host the
# tests cannot count on). Without go on PATH this does nothing and the test skips, saying why.
# The Kafka broker of the Kafka tests (tests/support/kafka_broker.py): Apache Kafka's jars from
# Maven Central (tools/kafka/pom.xml), resolved once into .tools/kafka/libs (about 45 MB, seconds).
# Without mvn or java the Kafka tests skip, saying why.
.PHONY: kafka-tools
.tools/kafka/libs/.installed: tools/kafka/pom.xml
	@if command -v mvn >/dev/null && command -v java >/dev/null; then \
		rm -rf .tools/kafka/libs && mvn -q -B -Dstyle.color=never -f tools/kafka/pom.xml dependency:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.tools/kafka/libs && touch $@; \
	else echo "kafka-tools: mvn or java not on PATH, Kafka not installed (the Kafka tests skip)"; fi

kafka-tools: .tools/kafka/libs/.installed

.PHONY: k8s-tools
KUBECONFORM_VERSION := v0.7.0
KUBERNETES_VALIDATE_VERSION := 1.37.0

.tools/bin/.kubeconform-$(KUBECONFORM_VERSION):
	@if command -v go >/dev/null; then \
		mkdir -p .tools/bin && GOBIN=$(CURDIR)/.tools/bin go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION) && touch $@; \
	else echo "k8s-tools: go not on PATH, kubeconform not installed (the manifests test skips)"; fi

.tools/k8s-schemas/.kubernetes-validate-$(KUBERNETES_VALIDATE_VERSION): $(VENV)/.installed
	rm -rf .tools/k8s-schemas
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target .tools/k8s-schemas kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)
	touch $@

k8s-tools: .tools/bin/.kubeconform-$(KUBECONFORM_VERSION) .tools/k8s-schemas/.kubernetes-validate-$(KUBERNETES_VALIDATE_VERSION)
