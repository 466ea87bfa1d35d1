# The developer's vocabulary (`make help` lists it). Every target sets itself up: a fresh clone needs
# only `make run` and `make test`.
.DEFAULT_GOAL := help

# Lambda's runtime is python3.12: development uses it when the machine has one (on PATH, or installed
# by pyenv), else python3. The layer build needs it (its bytecode is compiled for 3.12).
PYTHON312 := $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { command -v "$$p"; break; }; done)
PYTHON ?= $(if $(PYTHON312),$(PYTHON312),python3)
# The code keeps working on 3.11 too (the machine's default): `make test-py311` runs the pure tests there.
PYTHON311 := $(shell for p in python3.11 $$HOME/.pyenv/versions/3.11*/bin/python3.11; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null && { command -v "$$p"; break; }; done)
PYVERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
export SAM_CLI_TELEMETRY := 0
VENV := .venv
STAMP := $(VENV)/.installed-$(PYVERSION)
PY := $(VENV)/bin/python
TOOLS := .venv-tools
SAM := $(TOOLS)/bin/sam
# checkov pins its own dependencies too: an environment of its own.
CHECKOV_VENV := .venv-checkov
STAGE ?= dev
SOURCES := shared functions tests bench local contract client

.PHONY: help venv run demo token test test-unit test-integration test-e2e test-py311 fuzz lint format openapi build deploy bench screenshots chromium clean

help:                            ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# A venv made by another Python (3.11 before 3.12 was found, say) is made again.
$(STAMP): pyproject.toml client/pyproject.toml
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYVERSION)" ]; then \
		echo "rebuilding $(VENV) for Python $(PYVERSION)"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet -e './client[watch]'
	touch $@

# aws-sam-cli pins its own boto3/pydantic: it lives in a separate environment (cfn-lint comes with it).
$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet aws-sam-cli
	touch $@

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov
	touch $@

venv: $(STAMP)         ## the development environment (.venv), made or brought up to date
	@true

run: $(STAMP)          ## the whole system locally: API on 127.0.0.1:PORT (3000), sweep, SNS, PostgreSQL
	$(PY) -m local

demo: $(STAMP)         ## a proxy with three instances: watch a failover and a failback
	$(PY) -m local.demo

token: $(STAMP)        ## print a user and an admin token for the local stack
	$(PY) -m local.tokens

test: $(STAMP) chromium ## the whole suite on real PostgreSQL (DATABASE_URL, else embedded)
	@# With a server at DATABASE_URL, the end-to-end tests (which spend most of their time waiting on
	@# the processes they start: a stack, its SNS, a browser) run beside the rest, each part in a
	@# database of its own, and both must pass. The embedded server is one process's: one run.
	@if [ -n "$$DATABASE_URL" ] && [ -z "$(strip $(PYTEST_ARGS))" ]; then \
	  e2e_log=$$(mktemp); \
	  $(PY) -m pytest -q -p no:cacheprovider tests/e2e >"$$e2e_log" 2>&1 & e2e=$$!; \
	  $(PY) -m pytest -q -p no:cacheprovider tests/unit tests/integration; rest=$$?; \
	  wait $$e2e; e2e_status=$$?; \
	  echo "--- tests/e2e"; cat "$$e2e_log"; rm -f "$$e2e_log"; \
	  echo "tests/unit + tests/integration: exit $$rest; tests/e2e: exit $$e2e_status"; \
	  test $$rest -eq 0 && test $$e2e_status -eq 0; \
	else \
	  $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); \
	fi

test-unit: $(STAMP)    ## the pure tests: domain, policy, bodies, settings, layering (no database)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) ## handlers, store, sweep and probes on real PostgreSQL, SNS/SQS in moto
	$(PY) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test-e2e: $(STAMP) chromium ## the local stack as a subprocess over HTTP, in a browser, fuzzed
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

test-py311:                      ## the pure tests on Python 3.11, in .venv-3.11
	@test -n "$(PYTHON311)" || { echo "no Python 3.11 on this machine"; exit 1; }
	$(MAKE) test-unit PYTHON=$(PYTHON311) VENV=.venv-3.11

fuzz: $(STAMP)         ## a long schemathesis run against the local stack
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-400} $(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_fuzz.py

lint: $(STAMP) $(TOOLS)/.installed $(CHECKOV_VENV)/.installed ## ruff, formatting, mypy (strict), generated files fresh, the template (sam, cfn-lint, checkov)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check $(SOURCES)
	$(VENV)/bin/mypy
	@# each handler is a module named `app`, so one at a time (their request bodies are typed)
	for app in functions/*/app.py; do MYPYPATH=shared:. $(VENV)/bin/mypy --strict --follow-imports=silent $$app || exit 1; done
	$(PY) -m contract.openapi --check docs/openapi.json
	$(PY) -m local.walkthrough --check-readme
	$(SAM) validate --lint --template template.yaml --region eu-west-1
	$(SAM) validate --lint --template vantage-stack.yaml --region eu-central-1
	$(TOOLS)/bin/cfn-lint template.yaml vantage-stack.yaml
	@# every finding fixed, or skipped in the template with its reason (offline: no download)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f vantage-stack.yaml

format: $(STAMP)       ## ruff: sort imports, fix what it can, format
	$(VENV)/bin/ruff check --fix --quiet $(SOURCES)
	$(VENV)/bin/ruff format --quiet $(SOURCES)

openapi: $(STAMP)      ## regenerate the OpenAPI document, compiled body schemas, README error table and walk-through
	$(PY) -m contract.openapi --write docs/openapi.json
	$(PY) -m local.walkthrough --write-readme

build: $(TOOLS)/.installed       ## sam build: every function and the layer (needs a Python 3.12)
	@test -n "$(PYTHON312)" || { echo "make build needs Python 3.12 (Lambda's runtime): install it (e.g. pyenv install 3.12)"; exit 1; }
	@# in the source tree first, so that a first fetch's pin (shared/certs/*.sha256) stays to be committed
	$(PYTHON312) shared/rds_ca_bundle.py --optional shared/certs/global-bundle.pem
	PATH="$(dir $(PYTHON312)):$$PATH" PYTHON="$(PYTHON312)" $(SAM) build --template template.yaml

deploy: build                    ## deploy STAGE (dev, prod): the first time guided, then as saved in samconfig.toml
	@test -f .aws-sam/build/DomainLayer/python/certs/global-bundle.pem || { echo "the layer has no RDS CA \
	bundle (the build could not fetch it), so functions could not verify Aurora: fetch it (shared/rds_ca_bundle.py, \
	RDS_CA_BUNDLE_URL) and build again"; exit 1; }
	@if sed -n '/^\[$(STAGE)\.deploy\.parameters\]/,/^\[/p' samconfig.toml | grep -q 'SubnetIds='; then \
		$(SAM) deploy --config-env $(STAGE); \
	else \
		echo "first deploy of $(STAGE): sam asks for the VPC, subnets, security groups, JWT issuer and database, and saves the answers"; \
		$(SAM) deploy --guided --config-env $(STAGE); \
	fi

screenshots: $(STAMP) chromium ## the console's screenshots in docs/ (the browser test, writing its copies)
	CONSOLE_SCREENSHOTS=docs $(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_console.py

bench: $(STAMP) chromium ## every benchmark; rewrites docs/benchmarks.md
	$(PY) -m bench

# The Swagger UI test renders /docs in Debian's chromium (headless); installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser test"; \
		apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }; }

clean:                           ## remove the environments, local data and build output
	rm -rf $(VENV) .venv-3.11 $(TOOLS) $(CHECKOV_VENV) .local .aws-sam
