"""Settings for the DualEntry finance portal.

Every value comes from the environment (or an optional `.env` file next to manage.py) through
one `environ.Env`. Each variable is documented in README.md and `.env.example`. Production
secrets have no default; development defaults are safe ones.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
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
    "portal",
    "portal.records",
    "portal.audit",
    "portal.approvals",
    "dualentry_api",
]

MIDDLEWARE = [
    # First and last: django-prometheus times every page (portal/ops/metrics.py adds our own).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.audit.middleware.CorrelationIdMiddleware",
    "portal.ops.context.RequestContextMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
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

LANGUAGE_CODE = "en-us"
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

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="portal@localhost")

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
REFERENCE_CACHE_TTL = env.int("REFERENCE_CACHE_TTL", default=300)

# API v2 has no payment-method endpoint: names for the ids your DualEntry tenant uses.
PAYMENT_METHODS = {
    int(k): v
    for k, v in env.dict(
        "PAYMENT_METHODS",
        default={"1": "Check", "2": "ACH transfer", "3": "Wire transfer", "4": "Credit card"},
    ).items()
}

# --- Approvals and attachments --------------------------------------------------------------
APPROVAL_DUAL_THRESHOLD = env.float("APPROVAL_DUAL_THRESHOLD", default=10000)
ATTACHMENT_MAX_FILE_SIZE = env.int("ATTACHMENT_MAX_FILE_SIZE", default=25 * 1024 * 1024)
ATTACHMENT_MAX_REQUEST_SIZE = env.int("ATTACHMENT_MAX_REQUEST_SIZE", default=100 * 1024 * 1024)
ATTACHMENT_ALLOWED_TYPES = env.list(
    "ATTACHMENT_ALLOWED_TYPES",
    default=["pdf", "png", "jpeg", "gif", "webp", "tiff", "csv", "txt", "xlsx", "docx", "eml"],
)
# Uploads above this size go to a temporary file rather than memory; they are streamed on to
# DualEntry and removed at the end of the request.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Audit log ------------------------------------------------------------------------------
# Reverse proxies in front of the portal that append the client address to X-Forwarded-For.
# 0 (default): the audit log records REMOTE_ADDR and ignores X-Forwarded-For, which clients forge.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Operations (portal/ops/) ----------------------------------------------------------------
# /metrics answers a bearer token equal to METRICS_TOKEN, or clients in METRICS_ALLOWED_IPS
# (addresses or networks, judged like the audit log's client address, see TRUSTED_PROXY_COUNT).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
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
    },
}
