# One command to run the portal, one to test it. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SANDBOX_PORT ?= 8765
PORTAL_PORT ?= 8000
# make run SANDBOX=0 uses DUALENTRY_API_URL/DUALENTRY_API_KEY from the environment or .env.
SANDBOX ?= 1

OIDC_PROVIDER := tests/sso/provider

.PHONY: install chromium oidc-provider nginx migrate run test test-fast lint format bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; Playwright cannot download browsers here.
chromium:
	@test -x /usr/bin/chromium || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The multi-process test (tests/deploy/) runs Debian's nginx as its own process, on its own
# ports; the package's service is not started (there is no init system here, and nothing may
# take port 80 on a shared machine).
nginx:
	@test -x /usr/sbin/nginx || { \
		echo "Installing Debian's nginx for the multi-process test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; \
		systemctl disable --now nginx 2>/dev/null || service nginx stop 2>/dev/null || true; }

# The OpenID Connect provider (npm `oidc-provider`) that the SSO end-to-end tests start.
$(OIDC_PROVIDER)/node_modules/.package-lock.json: $(OIDC_PROVIDER)/package-lock.json
	npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error

oidc-provider: $(OIDC_PROVIDER)/node_modules/.package-lock.json

migrate: install
	DJANGO_DEBUG=on $(PY) manage.py migrate --noinput

# The sandbox keeps DualEntry's documented rate limits on; the worker (Procfile `worker:`) keeps
# the read model fresh beside the portal (Procfile `web:`).
run: migrate
	DJANGO_DEBUG=on $(PY) manage.py seed_demo
	@if [ "$(SANDBOX)" = "1" ]; then \
		mkdir -p .sandbox; \
		echo "Sandbox DualEntry API on http://127.0.0.1:$(SANDBOX_PORT) (state in .sandbox/state.json)"; \
		echo "Portal on http://127.0.0.1:$(PORTAL_PORT): log in as preparer / demo. Ctrl-C stops all three."; \
		DJANGO_DEBUG=on DUALENTRY_SANDBOX_RATE_LIMITS=1 \
			$(PY) manage.py run_sandbox --port $(SANDBOX_PORT) --state-file .sandbox/state.json & \
		SANDBOX_PID=$$!; \
		DJANGO_DEBUG=on DUALENTRY_API_URL=http://127.0.0.1:$(SANDBOX_PORT) DUALENTRY_API_KEY=sandbox-key \
			$(PY) manage.py run_worker & \
		WORKER_PID=$$!; trap 'kill $$WORKER_PID $$SANDBOX_PID 2>/dev/null' EXIT INT TERM; \
		DJANGO_DEBUG=on DUALENTRY_API_URL=http://127.0.0.1:$(SANDBOX_PORT) DUALENTRY_API_KEY=sandbox-key \
			$(PY) manage.py runserver 127.0.0.1:$(PORTAL_PORT); \
	else \
		DJANGO_DEBUG=on $(PY) manage.py run_worker & \
		WORKER_PID=$$!; trap 'kill $$WORKER_PID 2>/dev/null' EXIT INT TERM; \
		DJANGO_DEBUG=on $(PY) manage.py runserver 127.0.0.1:$(PORTAL_PORT); \
	fi

test: install chromium oidc-provider nginx
	$(PY) -m pytest

# Everything but the browser tests, for a quick loop.
test-fast: install
	$(PY) -m pytest -m "not browser"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# bench_team.py runs the deployment: PostgreSQL (BENCH_DATABASE_URL), Redis (BENCH_REDIS_URL), nginx.
bench: install nginx
	$(PY) tests/bench/run_all.py --json bench-results/bench.json

# The four detail pages and an approval request at 390px and 1280px, into screenshots/ (git-ignored).
screenshots: install chromium
	PORTAL_SCREENSHOTS=$(CURDIR)/screenshots $(PY) -m pytest tests/browser/test_screenshots.py -q -p no:cacheprovider

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .sandbox screenshots $(OIDC_PROVIDER)/node_modules
