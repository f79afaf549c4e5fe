"""Charm Studio settings: every deployment difference is an environment variable."""

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from studio import embedded
from studio.env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "insecure-dev-key-only-for-debug" if DEBUG else None)
if not DEBUG and SECRET_KEY.startswith("insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be a real secret when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# With no URLs set, use the embedded servers that `python -m studio.up` started.
_embedded = embedded.read_state()
DATABASE_URL = env_url("DATABASE_URL", ("postgres", "postgresql")) or _embedded.get("DATABASE_URL")
REDIS_URL = env_url("REDIS_URL", ("redis", "rediss", "redis+socket", "unix")) or _embedded.get(
    "REDIS_URL"
)
if not DATABASE_URL or not REDIS_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL and REDIS_URL are not set and no embedded servers are running: "
        "start Studio with `./dev.sh start`, or set both variables."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "csp",
    "template_partials",
    "studio",
    "runs",
    "billing",
    "alerts",
    "shares",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "studio.nul_bytes.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "studio.tenancy.TenancyMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"
ASGI_APPLICATION = "studio.asgi.application"

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
                "studio.tenancy.tenancy_context",
            ],
        },
    },
]

# Under ASGI each request runs in a thread of its own, where a persistent connection is
# never used again: every request opened one, at about 4 ms of server CPU. So the web
# (studio/asgi.py turns this on) keeps a pool; the workers keep a persistent connection
# per process, as a pool's threads would not survive celery's fork.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=0 if DATABASE_POOL else 60, conn_health_checks=True
    )
}
if DATABASE_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_SIZE", 10, minimum=1),
        # Seconds a request waits for a connection. Short, because while PostgreSQL is
        # down the pool cannot tell "busy" from "gone": the request answers 503 after it.
        "timeout": 2,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "runs:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # serve static files without a collectstatic step

# Browser security. SECURE_COOKIES (on unless DEBUG) marks the session and CSRF cookies
# Secure: browsers then send them over https only, and signing in over plain http fails
# (the login page says so). Behind a proxy that ends https, the proxy must send
# X-Forwarded-Proto: https.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_FAILURE_VIEW = "studio.signin.csrf_failure"
# Sent on https responses only. A year once cookies are https-only anyway; 0 turns it off.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if SECURE_COOKIES else 0)
# Subdomains of Studio's own host name only, not its siblings: safe to include.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: usually the proxy in front redirects http to https. Load balancers'
# health checks come over http, so /healthz is never redirected.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # run ids and filters in URLs stay on this site
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Preloading puts the whole domain into browsers' https-only lists: the domain owner's
# decision (SECURE_HSTS_PRELOAD=1), so check --deploy does not nag about it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Content-Security-Policy: everything from Studio itself, no inline or eval'd scripts (every
# script is a static file; htmx polling filters live in studio.js for that reason). Styles
# allow 'unsafe-inline': Plotly injects <style> rules and sets style attributes on its SVG,
# and the waterfall and bars position themselves with style attributes. Inline styles can
# restyle a page but not run code. data: images are the favicon and Plotly's PNG export.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Celery on Redis, set for at-least-once delivery (DESIGN.md section 6).
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
# Shared by every thread: Celery otherwise makes a (disabled) backend in each thread that
# sends a task, and the web serves each request in a thread of its own: 1 ms a request.
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "studio")
CELERY_TIMEZONE = "UTC"

# Ingest and pipeline knobs.
INGEST_RATE_LIMIT_PER_MINUTE = env_int("INGEST_RATE_LIMIT_PER_MINUTE", 6000)
PENDING_BATCH_RETRY_SECONDS = env_int("PENDING_BATCH_RETRY_SECONDS", 60, minimum=5)
BATCH_MAX_ATTEMPTS = env_int("BATCH_MAX_ATTEMPTS", 5, minimum=1)
# Runs are spread over this many shards; batches of different shards are applied in
# parallel. About the number of worker processes.
INGEST_SHARDS = env_int("INGEST_SHARDS", 2, minimum=1)
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 90, minimum=1)
# A request body not fully received this long after it starts is refused (408).
REQUEST_BODY_TIMEOUT_SECONDS = env_int("REQUEST_BODY_TIMEOUT_SECONDS", 30, minimum=1)

# Where Studio is reached from outside: the links in alert notifications and those
# `manage.py sharelink` prints are absolute.
STUDIO_BASE_URL = env_str("STUDIO_BASE_URL", "http://localhost:8000").rstrip("/")
# Monitors sending `Authorization: Bearer <token>` (or X-Health-Token) to /healthz see the
# per-check details; without it the answer is only {"ok": true|false}.
HEALTH_TOKEN = env_str("HEALTH_TOKEN", "")
ALERT_RESOLVE_AFTER_SECONDS = env_int("ALERT_RESOLVE_AFTER_SECONDS", 300)
ALERT_DELIVERY_ATTEMPTS = env_int("ALERT_DELIVERY_ATTEMPTS", 5, minimum=1)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int("ALERT_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)

# Outgoing mail (alert emails) through Django's SMTP backend.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Charm Studio <alerts@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
