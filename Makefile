# The developer's vocabulary. Every target sets itself up: a fresh clone needs only `make run` / `make test`.
PYTHON ?= python3
export SAM_CLI_TELEMETRY := 0
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .venv-tools
SAM := $(TOOLS)/bin/sam

.PHONY: chromium run test test-fast lint build bench fuzz demo token openapi clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# aws-sam-cli pins its own boto3/pydantic: it lives in a separate environment.
$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet aws-sam-cli
	touch $@

# The Swagger UI test renders /docs in Debian's chromium (headless); installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser test"; \
		apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }; }

run: $(VENV)/.installed          ## the whole system locally: API on :$${PORT:-3000}, sweep, SNS, PostgreSQL
	$(PY) -m local

test: $(VENV)/.installed chromium ## the whole suite on real PostgreSQL (DATABASE_URL, else embedded)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: $(VENV)/.installed    ## unit tests only, no database
	$(PY) -m pytest -q tests/unit

lint: $(VENV)/.installed $(TOOLS)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check shared functions tests bench
	$(VENV)/bin/mypy
	@# each handler is a module named `app`, so one at a time: request bodies are typed (api/requests.py)
	for app in functions/*/app.py; do MYPYPATH=shared $(VENV)/bin/mypy --strict --follow-imports=silent $$app || exit 1; done
	$(PY) -m contract.openapi --check docs/openapi.json
	$(SAM) validate --lint --template template.yaml --region eu-west-1

build: $(TOOLS)/.installed       ## sam build (needs python3.12 on PATH)
	$(SAM) build --template template.yaml

bench: $(VENV)/.installed        ## regenerate docs/benchmarks.md
	$(PY) -m bench

fuzz: $(VENV)/.installed         ## long schemathesis run against the local stack
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-400} $(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_fuzz.py

demo: $(VENV)/.installed         ## a proxy with three instances: watch a failover and a failback
	$(PY) -m local.demo

token: $(VENV)/.installed        ## print a user and an admin token for the local stack
	$(PY) -m local.tokens

openapi: $(VENV)/.installed      ## regenerate the committed OpenAPI document
	$(PY) -m contract.openapi --write docs/openapi.json

clean:
	rm -rf $(VENV) $(TOOLS) .local .aws-sam
