# The commands a newcomer uses (README.md). Configuration comes from the environment:
# PROMINENCE_HOME, PROMINENCE_PORT, PROMINENCE_REGISTRY, PROMINENCE_DATABASE_URL,
# PROMINENCE_WORKER_CPUS, PROMINENCE_EXECUTOR (see README.md).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) scripts/stack.py
# Installing marks the venv; it is rebuilt when the requirements change. Our own package
# `prominence` (plugins/prominence, see pyproject.toml) is installed editable last.
VENV_STAMP := $(VENV)/.installed
# The official CLI lives in its own venv: its top-level module `prominence` collides with ours.
CLI_VENV := .venv-cli
CLI_VERSION := 0.21.0
# The second pass of `make test` runs the integration suite on PostgreSQL (trust auth on loopback).
# The fixture creates a fresh database named after this one per session and drops it afterwards.
TEST_POSTGRES_URL ?= postgresql+psycopg2://postgres@127.0.0.1/prominence_test
# The third pass runs the stack with Celery workers (PostgreSQL, Redis on 127.0.0.1:6379) over the
# tests that exercise running jobs on workers; the rest of the suite does not depend on the executor.
# Each worker runs as on a host of its own (CELERY_HOSTS=netns: a network namespace and folders of
# its own, scripts/stack_hosts.py; needs root), so the pass shows what a worker needs of its host.
# CI runs this subset to stay within its time; `make test-celery CELERY_TESTS=...` runs more.
CELERY_TESTS ?= tests/integration/test_celery.py tests/integration/test_worker_hosts.py tests/integration/test_jobs_api.py \
	tests/integration/test_retries.py::test_a_container_over_its_memory_is_killed_and_not_retried
CELERY_HOSTS ?= netns
PYTEST_FLAGS ?= -q -ra --timeout=600 -p no:cacheprovider
# The PostgreSQL pass leaves out what does not depend on the database (image sources, MPI and
# sidecar tasks, attacks from inside containers, exec, staging and the data area, walltime and
# task execution, the example DAGs, the CLI's job commands, the fair-share ordering (its stack of
# its own; every job of the pass is admitted by the same queries), the browser tests: the SQLite
# pass runs them), so CI stays within its time. The fault tests run in the SQLite pass only until the whole
# folder has run green on PostgreSQL (issue 12).
POSTGRES_IGNORE ?= --ignore=tests/integration/faults --ignore=tests/integration/test_images.py \
	--ignore=tests/integration/test_task_types.py --ignore=tests/integration/test_security_jobs.py \
	--ignore=tests/integration/test_job_commands.py --ignore=tests/integration/ui \
	--ignore=tests/integration/test_data.py --ignore=tests/integration/test_job_execution.py \
	--ignore=tests/integration/test_dag_operator.py --ignore=tests/integration/test_cli.py \
	--ignore=tests/integration/test_fairshare.py

.PHONY: help venv system cli up down status token test test-unit test-postgres test-celery lint openapi bench run

help:
	@echo "make run | up | down | status | token USER=alice [EMAIL=a@b] | test | test-celery | lint | openapi | bench | cli | venv | system"

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Debian packages for the runtimes, the registry and the image tools (needs root).
system:
	@if [ ! -f scripts/install-system.sh ]; then \
		echo "system: scripts/install-system.sh not found, skipped"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "system: not root, skipped scripts/install-system.sh"; \
	else \
		sh scripts/install-system.sh; \
	fi

cli: $(CLI_VENV)/bin/prominence

$(CLI_VENV)/bin/prominence:
	$(PYTHON) -m venv $(CLI_VENV)
	echo '*' > $(CLI_VENV)/.gitignore
	$(CLI_VENV)/bin/pip install -q prominence==$(CLI_VERSION)

up: venv
	$(STACK) up

down:
	$(STACK) down

# The exit code (0 healthy, 1 degraded, 3 stopped) is for scripts: `scripts/stack.py status`.
status:
	@$(STACK) status || true

# Only the token on stdout, no newline, so `$$(make -s token USER=alice)` and token files work.
# EMAIL only from the command line: a login's own $EMAIL must not end up in tokens unasked.
token:
	@$(STACK) token $(USER) $(if $(GROUPS),--groups $(GROUPS)) $(if $(filter command line,$(origin EMAIL)),--email $(EMAIL))

test: system venv cli
	$(PY) -m pytest $(PYTEST_FLAGS) tests
	$(MAKE) --no-print-directory test-postgres
	$(MAKE) --no-print-directory test-celery

test-unit: venv
	$(PY) -m pytest $(PYTEST_FLAGS) tests --ignore=tests/integration

test-postgres: venv
	@if pg_isready -q -h 127.0.0.1; then \
		PROMINENCE_DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest $(PYTEST_FLAGS) tests/integration $(POSTGRES_IGNORE); \
	elif [ -n "$$CI" ]; then \
		echo "test-postgres: PostgreSQL is not reachable on 127.0.0.1" >&2; exit 1; \
	else \
		echo "test-postgres: PostgreSQL is not reachable on 127.0.0.1, skipped"; \
	fi

test-celery: venv
	@if ! pg_isready -q -h 127.0.0.1; then \
		reason="PostgreSQL is not reachable on 127.0.0.1"; \
	elif ! $(PY) -c 'import redis; redis.Redis().ping()' 2>/dev/null; then \
		reason="Redis is not reachable on 127.0.0.1:6379"; \
	fi; \
	if [ -z "$$reason" ]; then \
		PROMINENCE_EXECUTOR=celery PROMINENCE_CELERY_HOSTS=$(CELERY_HOSTS) PROMINENCE_DATABASE_URL=$(TEST_POSTGRES_URL) \
			$(PY) -m pytest $(PYTEST_FLAGS) $(CELERY_TESTS); \
	elif [ -n "$$CI" ]; then \
		echo "test-celery: $$reason" >&2; exit 1; \
	else \
		echo "test-celery: $$reason, skipped"; \
	fi

# The import rules of .importlinter, module size and local imports, ruff's lint rules and its
# formatting (CI runs this too).
lint: venv
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_structure.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# After changing a route or a schema: the committed OpenAPI document and the API reference.
openapi: venv
	$(PY) scripts/openapi.py
	$(PY) scripts/api_docs.py

bench: system venv
	$(PY) bench/run.py

run: system venv up
	$(PY) scripts/sample_job.py
