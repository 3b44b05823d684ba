"""Settings for the API Key Portal, all read from the environment.

Development works with nothing set: SQLite, local-memory cache, and a development secret and key
pepper generated once into ``var/dev-secrets.json`` (git-ignored) so that keys keep working across
restarts. With ``DEBUG=0`` the process refuses to start unless ``SECRET_KEY`` and ``KEY_PEPPERS`` come
from the environment: a production key pepper must never be invented on the spot.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)


def _development_secrets() -> dict[str, str]:
    """Generated once per checkout; good for development and tests only."""
    path = VAR_DIR / "dev-secrets.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        VAR_DIR.mkdir(exist_ok=True)
        values = {"secret_key": secrets.token_urlsafe(50), "key_pepper": secrets.token_urlsafe(32)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(values))
        tmp.replace(path)
        return values


if DEBUG:
    _dev = _development_secrets()
    SECRET_KEY = env.str("SECRET_KEY", default=_dev["secret_key"])
    KEY_PEPPERS = env.list("KEY_PEPPERS", default=[_dev["key_pepper"]])
else:
    _missing = [name for name in ("SECRET_KEY", "KEY_PEPPERS") if not env.str(name, default="").strip()]
    if _missing:
        raise ImproperlyConfigured(
            f"Production mode (DEBUG=0) refuses to start without {' and '.join(_missing)} in the "
            "environment. Set them (for example in .env), or set DEBUG=1 for development."
        )
    SECRET_KEY = env.str("SECRET_KEY")
    KEY_PEPPERS = env.list("KEY_PEPPERS")

KEY_PEPPERS = [p.strip() for p in KEY_PEPPERS if p.strip()]
if not KEY_PEPPERS:
    raise ImproperlyConfigured("KEY_PEPPERS must hold at least one pepper (comma-separated, current first).")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Production mode (DEBUG=0) needs ALLOWED_HOSTS, comma-separated.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_filters",
    "ninja",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "audit",
    "keys",
    "portal",
]

# Two stacks (portal/surfaces.py): requests to /api/, /healthz, /readyz and /metrics leave MIDDLEWARE at
# the router for API_MIDDLEWARE, which holds only what they use; every other request is the portal's.
MIDDLEWARE = [
    "portal.observability.RequestObserver",  # request id, metrics, request log: both stacks
    "portal.surfaces.SurfaceRouter",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.PortalLoginRequiredMiddleware",
    "portal.middleware.ActorMiddleware",
    "portal.middleware.MemberTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]
# No session, CSRF, sign-in, messages, htmx, axes or X-Frame-Options: an API request carries a key (or
# nothing), and GraphQL's session mode loads a session and checks CSRF on its own route only.
# The two HTML pages under /api/ (the REST docs, GraphiQL) write their CSP themselves (keys/api/html.py).
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "keys.api.middleware.ApiKeyMiddleware",
    "keys.api.middleware.JsonErrorsMiddleware",
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
            "builtins": ["portal.templatetags.moments"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; the busy timeout queues writers instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            # BEGIN IMMEDIATE: a transaction that will write takes the write lock before it reads,
            # so "count the keys, then insert" cannot race on SQLite either.
            "transaction_mode": "IMMEDIATE",
        }
    )
# Persistent connections: opening one (and, on SQLite, running the PRAGMAs) per request cost the
# cold verification path 4x its throughput in `make bench`.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL cancels a statement of a web request (portal page or API call) after this many
# seconds, answered as 503: a few slow requests cannot hold every worker. 0 turns it off. Commands
# and migrations are not limited (see portal/database.py).
DATABASE_STATEMENT_TIMEOUT_SECONDS = env.float("DATABASE_STATEMENT_TIMEOUT_SECONDS", default=5.0)
# PostgreSQL's planner prices a random page read at this on the connections of web requests (the
# default 4.0 is a spinning disk's): the lists' index-only walks over cached data win. 0: the
# server's own setting (see portal/database.py).
DATABASE_RANDOM_PAGE_COST = env.float("DATABASE_RANDOM_PAGE_COST", default=1.1)

_cache_url = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
if _cache_url:
    CACHES = {"default": env.cache_url_config(_cache_url)}
    if CACHES["default"]["BACKEND"].endswith("RedisCache"):
        # django-environ picks the django-redis backend; we use Django's own Redis backend.
        CACHES["default"] = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "portal"}}
REDIS_URL = env.str("REDIS_URL", default="") or (_cache_url if _cache_url.startswith("redis") else "")

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Login throttling (django-axes): a well-kept library rather than our own counters. Five failures
# lock the account *or* the client IP, each on its own, for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Our login form posts the email in the field Django calls "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
# Trusted proxies in front (load balancer, TLS terminator): the client address is the one the
# outermost of them appended to X-Forwarded-For. accounts.actors.client_ip is the one rule every door
# asks (audit log, usage, allowed networks, /metrics), and axes asks it too, so a lockout counts the
# client and never the proxy every client shares. Axes' counts by email go through the same
# normalization as the sign-in's case-insensitive match.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
if PROXY_COUNT < 0:
    raise ImproperlyConfigured("PROXY_COUNT is the number of trusted proxies in front: 0 or more.")
AXES_CLIENT_IP_CALLABLE = "accounts.actors.client_ip"
AXES_USERNAME_CALLABLE = "accounts.throttling.sign_in_username"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The key list's covering indexes carry non-key columns (INCLUDE) for PostgreSQL's index-only
# scans; SQLite builds the same indexes without them, which is all the warning says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="API Key Portal <noreply@localhost>")

# ---- Background tasks (django-tasks: Django 6's django.tasks for 5.2) ----
# Work that must not ride on a request or a command (email above all) is enqueued as a task.
# "database" (the default): a row in the database, in the caller's transaction, run by
# `manage.py db_worker` (make run and make serve start one; deploy/systemd/portal-worker.service).
# "immediate": run at once in the process that enqueues it (no worker; a failure is only logged).
TASKS_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
TASKS_BACKEND = env.str("TASKS_BACKEND", default="database").lower()
if TASKS_BACKEND not in TASKS_BACKENDS:
    raise ImproperlyConfigured(f"TASKS_BACKEND is one of {', '.join(TASKS_BACKENDS)}, not {TASKS_BACKEND!r}.")
TASKS = {"default": {"BACKEND": TASKS_BACKENDS[TASKS_BACKEND], "QUEUES": ["default"]}}

# Security headers and cookies: safe values in production, each can be turned off for plain-HTTP
# loopback use (e.g. `make serve` on 127.0.0.1).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
# Sessions in the database by default; "django.contrib.sessions.backends.cache" (or cached_db) keeps
# them in the cache, which must then be shared by every worker (Redis, not local memory).
SESSION_ENGINE = env.str("SESSION_ENGINE", default="django.contrib.sessions.backends.db")
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content Security Policy (django-csp): only our own scripts and styles, nothing inline, no
# plugins, no <base> tricks, no framing. Inline <script> would need {{ request.csp_nonce }}.
# The portal's middleware writes it on every page; the API and the probes never reach that
# middleware (portal/surfaces.py), and their two HTML pages write it themselves (keys/api/html.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

DEFAULT_EXCEPTION_REPORTER_FILTER = "keys.redaction.SecretScrubbingReporterFilter"
ADMINS = [("Operations", a) for a in env.list("ADMIN_EMAILS", default=[])]

# LOG_FORMAT=json: one JSON object per line (portal/logs.py), with the request id; the
# default stays human-readable. LOG_REQUESTS adds one line per request (on with JSON logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is plain (the default) or json.")
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=LOG_FORMAT == "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "filters": {"scrub_secrets": {"()": "keys.redaction.ScrubSecretsFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["scrub_secrets"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # 4xx answers are part of the contract, not incidents; 5xx still log at ERROR.
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
        # Python's warnings (a library's UserWarning, say), once routed to logging below.
        "py.warnings": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
if LOG_FORMAT == "json":
    # Warnings are printed to stderr as two plain lines unless logging takes them: every line JSON.
    logging.captureWarnings(True)

# ---- /metrics (Prometheus) ----
# Refused (404) unless the request comes from one of these networks (behind PROXY_COUNT proxies, the
# forwarded address) or carries METRICS_TOKEN as a bearer token. METRICS=0 turns the instrumentation
# and the endpoint off. Under gunicorn, PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py) shares them.
METRICS_ENABLED = env.bool("METRICS", default=True)
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.0/8", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# prometheus-client in multiprocess mode writes a file there as soon as a metric is made: any process
# that loads these settings (a worker, `manage.py migrate` before gunicorn ever ran) makes it first.
if _metrics_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(_metrics_dir).mkdir(parents=True, exist_ok=True)
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network)
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from None

# ---- API keys ----
# How long one worker trusts a verified key before asking the database again. Revocation in the
# worker that did it is immediate (the entry is dropped); in every other worker it is at most this.
KEY_CACHE_TTL_SECONDS = env.float("KEY_CACHE_TTL_SECONDS", default=1.0)
# Usage counters are buffered per process and written in one batch this often, by a timer thread of
# each worker (keys/metering/flusher.py), whether requests come or not. USAGE_FLUSH_INTERVAL_SECONDS
# is the name it had before, still read.
USAGE_FLUSH_SECONDS = env.float(
    "USAGE_FLUSH_SECONDS", default=env.float("USAGE_FLUSH_INTERVAL_SECONDS", default=5.0)
)
if USAGE_FLUSH_SECONDS <= 0:
    raise ImproperlyConfigured("USAGE_FLUSH_SECONDS must be more than 0.")
# While the database cannot take them, at most this many counters (one per key and UTC day) wait in
# a worker; calls beyond it are dropped, counted (akp_usage_dropped_total) and logged.
USAGE_BUFFER_MAX_ROWS = env.int("USAGE_BUFFER_MAX_ROWS", default=100_000)
if USAGE_BUFFER_MAX_ROWS < 1:
    raise ImproperlyConfigured("USAGE_BUFFER_MAX_ROWS must be at least 1.")
# The request log (keys/metering/requestlog.py): every request made with a key, and every refused
# attempt that names one, buffered like usage and written in batches by the same timer. REQUEST_LOG=0
# turns it off; rows are kept REQUEST_LOG_DAYS days (a day's partition dropped on PostgreSQL); at most
# REQUEST_LOG_BUFFER_MAX_ROWS wait in a worker, those beyond are dropped, counted
# (akp_request_log_dropped_total) and logged.
REQUEST_LOG = env.bool("REQUEST_LOG", default=True)
REQUEST_LOG_DAYS = env.int("REQUEST_LOG_DAYS", default=7)
if REQUEST_LOG_DAYS < 1:
    raise ImproperlyConfigured("REQUEST_LOG_DAYS must be at least 1.")
# Where the JSON logs are searched, with {request_id} where a request id goes (e.g. a Grafana Explore
# or Kibana address): each request id on a key's Requests tab then links there. Empty: no link.
REQUEST_LOG_SEARCH_URL = env.str("REQUEST_LOG_SEARCH_URL", default="")
REQUEST_LOG_BUFFER_MAX_ROWS = env.int("REQUEST_LOG_BUFFER_MAX_ROWS", default=50_000)
if REQUEST_LOG_BUFFER_MAX_ROWS < 1:
    raise ImproperlyConfigured("REQUEST_LOG_BUFFER_MAX_ROWS must be at least 1.")
# last_used_at and the recent IPs of one key are written at most once per this many seconds.
LAST_USED_WRITE_INTERVAL_SECONDS = env.int("LAST_USED_WRITE_INTERVAL_SECONDS", default=60)
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"
# ---- secret scanning (keys/scanning.py) ----
# The public keys that sign leak reports: a URL or a file path of a document shaped like
# https://api.github.com/meta/public_keys/secret_scanning. Empty: the endpoint verifies nothing (401).
SECRET_SCANNING_PUBLIC_KEYS = env.str("SECRET_SCANNING_PUBLIC_KEYS", default="")
SECRET_SCANNING_PUBLIC_KEYS_TTL_SECONDS = env.float("SECRET_SCANNING_PUBLIC_KEYS_TTL_SECONDS", default=3600.0)
SECRET_SCANNING_FETCH_TIMEOUT_SECONDS = env.float("SECRET_SCANNING_FETCH_TIMEOUT_SECONDS", default=5.0)
# Reports accepted per minute from one client address (the key rate limiter's sliding window).
SECRET_SCANNING_RATE_LIMIT_PER_MINUTE = env.int("SECRET_SCANNING_RATE_LIMIT_PER_MINUTE", default=60)
if SECRET_SCANNING_RATE_LIMIT_PER_MINUTE < 1:
    raise ImproperlyConfigured("SECRET_SCANNING_RATE_LIMIT_PER_MINUTE must be at least 1.")
# Where the portal is served, e.g. https://keys.example.com: its own application's endpoint and the
# links in emails. Empty: the address each request came to (emails: http://127.0.0.1:8000).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="")
# Password of the demo users that seed_demo makes; the login page names it in development (DEBUG).
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="") or "acme-demo-2026"
