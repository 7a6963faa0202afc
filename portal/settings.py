"""Settings for the DualEntry finance portal.

Every value comes from the environment (or an optional `.env` file next to manage.py) through
one `environ.Env`. Each variable is documented in README.md and `.env.example`. Production
secrets have no default; development defaults are safe ones.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _production_secret(name: str, *, token_bytes: int, requirement: str = "") -> str:
    """A secret the environment must give when DEBUG is off; "" in development (the caller
    then derives a safe development value)."""
    value = env.str(name, default="")
    if not value and not DEBUG:
        raise ImproperlyConfigured(
            f"{name} must be set when DJANGO_DEBUG is off ({requirement}generate one with: "
            f'python -c "import secrets; print(secrets.token_urlsafe({token_bytes}))").'
        )
    return value


SECRET_KEY = _production_secret("DJANGO_SECRET_KEY", token_bytes=50)
if not SECRET_KEY:
    # Development only: a key that is stable per checkout, so sessions survive restarts.
    _dev_key_file = BASE_DIR / ".dev-secret-key"
    if not _dev_key_file.exists():
        import secrets

        _dev_key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _dev_key_file.read_text().strip()

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_prometheus",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "portal",
    "portal.readmodel",
    "portal.records",
    "portal.audit",
    "portal.approvals",
    "portal.ops",
    "dualentry_api",
]

MIDDLEWARE = [
    # django-prometheus times every page from first to (nearly) last; portal/ops/metrics.py adds
    # the portal's own metrics.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.TimeZoneMiddleware",
    "portal.audit.middleware.CorrelationIdMiddleware",
    "portal.ops.context.RequestContextMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # After messages and htmx: says why a session ended, and answers htmx with a redirect.
    "portal.middleware.SessionTimeoutMiddleware",
    # After the session check (an expired session is signed out before any page, 404 included);
    # with DEBUG on, answers unknown addresses and Http404 with the portal's own 404 page.
    "portal.middleware.FriendlyNotFoundMiddleware",
    # Last, as django-axes asks: turns a lock-out into the log-in page saying so.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
                "portal.context_processors.data_freshness",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writers share the file: the runserver's threads and the sync worker (make run),
    # the live server's threads in the browser tests. Wait for a lock instead of failing with
    # "database is locked", take the write lock when a transaction starts (no deadlock on
    # upgrading a read lock), and let readers go on while one writes (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if env.str("DJANGO_TEST_DB_NAME", default=""):
    # Lets several test runs share one PostgreSQL server without clashing.
    DATABASES["default"]["TEST"] = {"NAME": env.str("DJANGO_TEST_DB_NAME")}

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://portal")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Log-in: local passwords, single sign-on, throttling ------------------------------------
# Username/password log-in (the portal's own accounts). Off: only "Sign in with ..." remains,
# for every page including the admin.
LOCAL_LOGIN_ENABLED = env.bool("LOCAL_LOGIN_ENABLED", default=True)

# Single sign-on with OpenID Connect (portal/sso.py, mozilla-django-oidc). On when a client id
# is set. Endpoints come from OIDC_OP_ISSUER's discovery document, or each one explicitly.
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile groups")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
# The claim holding the person's groups, and which group gives which portal role
# ("idp-group=Role,..."; roles: Viewer, Preparer, Approver). Re-applied at every sign-in.
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_ROLE_MAP = env.dict("OIDC_ROLE_MAP", default={})
# Shown on the button: "Sign in with <name>".
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="your company account")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "login"

AUTHENTICATION_BACKENDS = [
    # First, as django-axes requires: refuses any log-in while its user or address is locked.
    "axes.backends.AxesStandaloneBackend",
    "portal.sso.PortalOIDCBackend",
]
if LOCAL_LOGIN_ENABLED:
    AUTHENTICATION_BACKENDS.append("django.contrib.auth.backends.ModelBackend")

# django-axes: after AXES_FAILURE_LIMIT failed log-ins for one username (from anywhere) or from
# one address (for any username), log-ins are refused for AXES_COOLOFF_MINUTES. Unlock early
# with `manage.py axes_reset_username NAME` or `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.views.login_locked_out"
# The same client address as the audit log (honours TRUSTED_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "portal.audit.services.client_ip"
AXES_VERBOSE = False

# --- Sessions -------------------------------------------------------------------------------
# Signed out after SESSION_IDLE_TIMEOUT seconds without a request, and SESSION_ABSOLUTE_TIMEOUT
# after signing in whatever happens; pages warn SESSION_WARNING_BEFORE seconds ahead
# (portal/middleware.py, static/js/session.js).
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30) * 60
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT_HOURS", default=12) * 3600
SESSION_WARNING_BEFORE = env.int("SESSION_WARNING_SECONDS", default=60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT

LANGUAGE_CODE = "en-us"
# Times are stored in UTC and shown in each person's zone (their profile; the browser's zone
# on first log-in); TIME_ZONE is the zone for people who have none yet.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
_manifest_static = env.bool("DJANGO_STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if _manifest_static
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- HTTPS and security headers (all on when DJANGO_DEBUG is off) ----------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Behind a TLS-terminating proxy, which must set (overwrite) X-Forwarded-Proto.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Only asks browsers to accept a submission to their preload lists; nothing is submitted.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy (django-csp 4): our own scripts, styles and images only; no inline
# script or style anywhere (htmx's indicator styles are in portal.css, see base.html).
_csp_directives = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    "object-src": [NONE],
    "base-uri": [NONE],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}
if env.bool("DJANGO_CSP", default=not DEBUG):
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}
else:
    # Development: report (in the browser console) what the policy would block.
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}

EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="portal@localhost")

# With DEBUG on (the demo), show the portal's own 404 page rather than Django's technical one
# (which lists every URL); real exceptions keep Django's debug page. No effect with DEBUG off.
PORTAL_FRIENDLY_404 = env.bool("PORTAL_FRIENDLY_404", default=True)

# --- DualEntry Public API -------------------------------------------------------------------
# Base URL without /public/v2 (the client adds it). In development the sandbox stands in.
DUALENTRY_API_URL = env.str("DUALENTRY_API_URL", default="http://127.0.0.1:8765" if DEBUG else "")
DUALENTRY_API_KEY = env.str("DUALENTRY_API_KEY", default="sandbox-key" if DEBUG else "")
DUALENTRY_CONNECT_TIMEOUT = env.float("DUALENTRY_CONNECT_TIMEOUT", default=5.0)
DUALENTRY_READ_TIMEOUT = env.float("DUALENTRY_READ_TIMEOUT", default=30.0)
# DualEntry documents token buckets per key: ~5 req/s (burst 50) overall, 1 req/s (burst 10)
# per route. The client keeps below them, sharing the budget through the cache.
DUALENTRY_RATE_PER_SECOND = env.float("DUALENTRY_RATE_PER_SECOND", default=5.0)
DUALENTRY_RATE_BURST = env.int("DUALENTRY_RATE_BURST", default=50)
DUALENTRY_ROUTE_RATE_PER_SECOND = env.float("DUALENTRY_ROUTE_RATE_PER_SECOND", default=1.0)
DUALENTRY_ROUTE_RATE_BURST = env.int("DUALENTRY_ROUTE_RATE_BURST", default=10)
DUALENTRY_RATE_MAX_WAIT = env.float("DUALENTRY_RATE_MAX_WAIT", default=3.0)
# Budget lanes (dualentry_api/ratelimit.py): shares of each bucket's burst kept for writes and
# for page views, the sync's cap as a share of the rate, and how long writes and sync may wait.
DUALENTRY_WRITE_RESERVE = env.float("DUALENTRY_WRITE_RESERVE", default=0.4)
DUALENTRY_INTERACTIVE_RESERVE = env.float("DUALENTRY_INTERACTIVE_RESERVE", default=0.2)
DUALENTRY_SYNC_SHARE = env.float("DUALENTRY_SYNC_SHARE", default=0.5)
DUALENTRY_WRITE_MAX_WAIT = env.float("DUALENTRY_WRITE_MAX_WAIT", default=10.0)
DUALENTRY_SYNC_MAX_WAIT = env.float("DUALENTRY_SYNC_MAX_WAIT", default=60.0)

# Reference lists (companies, customers, accounts, ...) are cached and shared by all users.

# API v2 has no payment-method endpoint: names for the ids your DualEntry tenant uses.
PAYMENT_METHODS = {
    int(k): v
    for k, v in env.dict(
        "PAYMENT_METHODS",
        default={"1": "Check", "2": "ACH transfer", "3": "Wire transfer", "4": "Credit card"},
    ).items()
}

# --- Read model and sync ----------------------------------------------------------------------
# Pages read a local copy of DualEntry kept fresh by the worker (`manage.py run_worker`).
# Tasks run on django-tasks' database backend (Django 6's tasks API, backported).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "readmodel"],
    }
}
# Share of DualEntry's per-route and per-key rates the sync may use (writes and pages get the rest).
READMODEL_BUDGET_SHARE = env.float("READMODEL_BUDGET_SHARE", default=0.5)
READMODEL_NEW_INTERVAL = env.float("READMODEL_NEW_INTERVAL", default=15)
READMODEL_DRAFTS_INTERVAL = env.float("READMODEL_DRAFTS_INTERVAL", default=20)
READMODEL_FULL_INTERVAL = env.float("READMODEL_FULL_INTERVAL", default=210)
READMODEL_REFERENCES_INTERVAL = env.float("READMODEL_REFERENCES_INTERVAL", default=300)
READMODEL_FULL_PAGES_PER_RUN = env.int("READMODEL_FULL_PAGES_PER_RUN", default=3)
READMODEL_STALE_AFTER = env.float("READMODEL_STALE_AFTER", default=120)
READMODEL_FULL_STALE_AFTER = env.float("READMODEL_FULL_STALE_AFTER", default=900)
READMODEL_FAILING_AFTER = env.int("READMODEL_FAILING_AFTER", default=3)
READMODEL_BACKOFF_BASE = env.float("READMODEL_BACKOFF_BASE", default=10)
READMODEL_BACKOFF_CAP = env.float("READMODEL_BACKOFF_CAP", default=300)
READMODEL_LEASE_SECONDS = env.float("READMODEL_LEASE_SECONDS", default=60)
READMODEL_WORKER_THREADS = env.int("READMODEL_WORKER_THREADS", default=4)
READMODEL_PAGE_SIZE = env.int("READMODEL_PAGE_SIZE", default=100)
READMODEL_NEW_MAX_PAGES = env.int("READMODEL_NEW_MAX_PAGES", default=10)
READMODEL_DETAIL_READS_PER_RUN = env.int("READMODEL_DETAIL_READS_PER_RUN", default=5)
# Age (s) after which a detail page re-reads its record live in the background (htmx).
READMODEL_DETAIL_REFRESH_AFTER = env.float("READMODEL_DETAIL_REFRESH_AFTER", default=60)
# Days of sync runs and finished sync tasks kept (the worker prunes older ones hourly).
READMODEL_HISTORY_DAYS = env.float("READMODEL_HISTORY_DAYS", default=2)
READMODEL_SCHEDULER_TICK = env.float("READMODEL_SCHEDULER_TICK", default=5)

# --- Approvals and attachments --------------------------------------------------------------
APPROVAL_DUAL_THRESHOLD = env.float("APPROVAL_DUAL_THRESHOLD", default=10000)
ATTACHMENT_MAX_FILE_SIZE = env.int("ATTACHMENT_MAX_FILE_SIZE", default=25 * 1024 * 1024)
ATTACHMENT_MAX_REQUEST_SIZE = env.int("ATTACHMENT_MAX_REQUEST_SIZE", default=100 * 1024 * 1024)
ATTACHMENT_ALLOWED_TYPES = env.list(
    "ATTACHMENT_ALLOWED_TYPES",
    default=["pdf", "png", "jpeg", "gif", "webp", "tiff", "csv", "txt", "xlsx", "docx", "eml"],
)
# ZIP-based uploads (Office files) are inspected before they are passed on: at most this many
# entries, this many bytes once unpacked, and entries/archives compressed at most this many times.
ATTACHMENT_ARCHIVE_MAX_ENTRIES = env.int("ATTACHMENT_ARCHIVE_MAX_ENTRIES", default=10_000)
ATTACHMENT_ARCHIVE_MAX_INFLATED_SIZE = env.int(
    "ATTACHMENT_ARCHIVE_MAX_INFLATED_SIZE", default=256 * 1024 * 1024
)
ATTACHMENT_ARCHIVE_MAX_RATIO = env.int("ATTACHMENT_ARCHIVE_MAX_RATIO", default=100)
# Uploads above this size go to a temporary file rather than memory; they are streamed on to
# DualEntry and removed at the end of the request.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Sized for the largest form the portal offers, so no form ends in Django's bare "Bad Request
# (400)" with the typed input lost: a contract of up to 250 lines (200 allowed; the line formset
# reads up to 250 and answers the extra ones with a message) of 12 fields each (11 + "remove"),
# plus 100 for the header, the formset's management fields and the tokens.
# tests/records/test_form_size.py recomputes the need from the forms themselves.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 250 * 12 + 100

# --- Audit log ------------------------------------------------------------------------------
# Reverse proxies in front of the portal that append the client address to X-Forwarded-For.
# 0 (default): the audit log records REMOTE_ADDR and ignores X-Forwarded-For, which clients forge.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Key of the HMAC that seals every event and checkpoint (README "Audit log"). It lives only in
# the environment, never in the database: whoever can rewrite the table cannot forge a seal.
AUDIT_HMAC_KEY = _production_secret(
    "AUDIT_HMAC_KEY", token_bytes=48, requirement="at least 32 characters; "
)
if not AUDIT_HMAC_KEY:
    # Development only: derived from this checkout's secret key, so it is stable and unshared.
    import hashlib

    AUDIT_HMAC_KEY = hashlib.sha256(f"portal.audit.hmac:{SECRET_KEY}".encode()).hexdigest()
elif len(AUDIT_HMAC_KEY) < 32 or AUDIT_HMAC_KEY == SECRET_KEY:
    raise ImproperlyConfigured(
        "AUDIT_HMAC_KEY must be at least 32 characters and differ from DJANGO_SECRET_KEY."
    )
# Signed checkpoints (sequence, hash, time, MAC) are appended here after every committed event:
# a file the database cannot rewrite. Production: a volume only the portal's user may append
# to (chattr +a), shipped to object storage with object lock (README "Audit log").
AUDIT_CHECKPOINT_PATH = BASE_DIR / env.str(  # a relative path is relative to manage.py
    "AUDIT_CHECKPOINT_PATH", default=".audit/checkpoints.jsonl"
)
# Failed log-ins for one username from one address within this many seconds are one audit
# event when the burst starts and one summary with the count when it ends.
AUDIT_LOGIN_FAILURE_WINDOW = env.int("AUDIT_LOGIN_FAILURE_WINDOW", default=900)

# --- Operations (portal/ops/) ----------------------------------------------------------------
# /metrics answers a bearer token equal to METRICS_TOKEN, or clients in METRICS_ALLOWED_IPS
# (addresses or networks, judged like the audit log's client address, see TRUSTED_PROXY_COUNT).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
# Load balancers and Prometheus probe the instances directly over plain HTTP: no HTTPS redirect.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
# /health/ready/ calls the worker "stale" when its heartbeat is older than this (seconds).
WORKER_HEARTBEAT_STALE_AFTER = env.float("WORKER_HEARTBEAT_STALE_AFTER", default=60)

# LOG_FORMAT=json (default when debug is off): one JSON object per line with time, level,
# logger, message, the request id and user of the current request, and the extra fields of
# the line (DualEntry calls add upstream_method/_path/_status/_duration_ms/_request_id).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "portal.ops.context.RequestContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"level": "INFO"},
        # urllib3 logs full URLs at DEBUG; keep it quiet so nothing sensitive leaks.
        "urllib3": {"level": "WARNING"},
        # Every log-in and log-out is in the audit log already.
        "axes": {"level": "WARNING"},
    },
}
