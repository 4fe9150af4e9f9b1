# The two commands a new user needs: `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test test-postgres lint format bench chaos soak fuzz browser screenshots vendor compose-check compose-smoke clean-var

# Reinstalls only when a requirements file changes.
# make up's set: requirements-local.txt, which includes the production set, requirements.txt.
$(BIN)/.runtime-installed: requirements.txt requirements-local.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements-local.txt
	@touch $@

$(BIN)/.dev-installed: $(BIN)/.runtime-installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

up: $(BIN)/.runtime-installed
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m myproject.stack up

# lint-imports: the layout's import rules (pyproject.toml, [tool.importlinter]). Migrations are
# checked with a placeholder Django key: they sign nothing.
lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DJANGO_SECRET_KEY=makemigrations-check $(BIN)/python manage.py makemigrations --check --dry-run

# The page tests drive Debian's chromium; as root (CI) it is installed when missing.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "make test needs Debian's chromium and chromium-driver: sudo apt-get install chromium chromium-driver"; \
	    exit 1; \
	  fi; \
	fi

test: lint browser
	$(BIN)/python -m pytest
	@$(MAKE) --no-print-directory test-postgres

# The tests that touch SQL (accounts, registry, training, the API) again on PostgreSQL, the
# production database (make up uses SQLite), when one answers at TEST_POSTGRES_URL; each run
# makes and drops a test database of its own (tests/settings.py). Skipped, saying so, when
# none answers.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/platform
test-postgres: $(BIN)/.dev-installed
	@if $(BIN)/python tests/postgres_answers.py "$(TEST_POSTGRES_URL)"; then \
	  DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/python -m pytest -q \
	    tests/api tests/predictor tests/test_training.py tests/test_deploy_check.py; \
	else \
	  echo "test-postgres: skipped, no PostgreSQL answers at $(TEST_POSTGRES_URL)"; \
	fi

# The page screenshots of README.md, at desktop and phone width, into docs/screenshots/: the
# page tests write them (a plain `make test` writes them under var/ instead).
screenshots: $(BIN)/.dev-installed browser
	SCREENSHOT_DIR="$(CURDIR)/docs/screenshots" $(BIN)/python -m pytest -q tests/pages

# The pinned front-end libraries (api/vendor/package-lock.json) fetched from the npm registry
# and copied into api/static/vendor/ with their licences and checksums (api/vendor/vendor.py).
# Only to change a version: the copies are committed, so the pages never need npm or a CDN.
vendor:
	rm -rf var/vendor-build && mkdir -p var/vendor-build
	cp api/vendor/package.json api/vendor/package-lock.json var/vendor-build/
	cd var/vendor-build && npm ci --ignore-scripts --no-audit --no-fund
	$(BIN)/python api/vendor/vendor.py var/vendor-build

# Latency, throughput, CPU and memory next to the limits they are judged against (bench/run.py),
# appended to bench/RESULTS.md, all figures in bench/results.json; about 15 minutes on 2 cores; not
# part of test. BENCH_ARGS="--quick" for a short run, "--profile" for py-spy flamegraphs too.
# Its processes share one Django key: yours when set, else one made for the run (in their
# environment, never on a command line).
bench: $(BIN)/.dev-installed
	test -n "$$DJANGO_SECRET_KEY$$DJANGO_SECRET_KEY_FILE" \
	  || export DJANGO_SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Every fault scenario of tests/chaos/ (the short Redis restart of `make test` too), then their table.
chaos: $(BIN)/.dev-installed
	$(BIN)/python -m pytest tests/chaos -m "not soak" -s

# 20,000 jobs over ten minutes with a predict worker killed every 30 s (tests/chaos/test_soak.py).
soak: $(BIN)/.dev-installed
	$(BIN)/python -m pytest tests/chaos -m soak -s

# A long random and stateful schemathesis run against a running `make up` (see bench/fuzz.py).
fuzz: $(BIN)/.dev-installed
	$(BIN)/python -m bench.fuzz

format: $(BIN)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# compose.yaml is valid (no Docker engine needed; none runs on the development machines).
compose-check:
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq docker-compose >/dev/null; }
	DJANGO_SECRET_KEY=check POSTGRES_PASSWORD=check REDIS_PASSWORD=check FLOWER_BASIC_AUTH=check:check ADMIN_PASSWORD=check \
	  MONGO_ROOT_PASSWORD=check MONGO_PASSWORD=check \
	  docker-compose -f compose.yaml config --quiet && echo "compose.yaml: valid"

# compose.yaml run for real, as root: engine, images (stand-ins where Docker Hub is out of
# reach), up, the API flow through the published port, down -v (docker/smoke.py).
compose-smoke:
	$(PYTHON) docker/smoke.py

# Forget everything make up stored (database, MongoDB and Redis data, artifacts, secrets).
clean-var:
	rm -rf var
