"""Django settings for Exec, read from environment variables.

Every variable is parsed by `exec_site.env`, so a bad value stops start-up with
a message that names the variable. The README lists each one with its default.
"""

import base64
import hashlib
import secrets
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet

from exec_site.env import (
    SettingsError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("EXEC_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", True)


def _development_secret_key() -> str:
    """Read the development secret key from var/, creating it on first use."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise SettingsError(
            "SECRET_KEY: missing; it is required when DEBUG is off. Set it to a "
            "random string of at least 50 characters (or set SECRET_KEY_FILE)."
        )
    SECRET_KEY = _development_secret_key()
elif not DEBUG and len(SECRET_KEY) < 50:
    raise SettingsError(
        f"SECRET_KEY: too short ({len(SECRET_KEY)} characters); use at least 50 "
        "random characters when DEBUG is off."
    )


def _parse_fernet_keys(value: str) -> list[str]:
    keys = [key.strip() for key in value.split(",") if key.strip()]
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise SettingsError(
                "EXEC_ENCRYPTION_KEY: invalid key; each comma-separated key must be "
                "32 url-safe base64-encoded bytes, as made by "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`."
            ) from None
    return keys


_encryption_key = env_str("EXEC_ENCRYPTION_KEY")
if _encryption_key is None:
    if not DEBUG:
        raise SettingsError(
            "EXEC_ENCRYPTION_KEY: missing; it is required when DEBUG is off. "
            "Generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`."
        )
    _derived = hashlib.sha256(b"exec-connector-secrets\0" + SECRET_KEY.encode())
    _encryption_key = base64.urlsafe_b64encode(_derived.digest()).decode()

# The first key encrypts; every key decrypts, so old keys can be rotated out.
EXEC_ENCRYPTION_KEYS = _parse_fernet_keys(_encryption_key)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise SettingsError(
            "ALLOWED_HOSTS: missing; it is required when DEBUG is off. Set it to "
            "the comma-separated host names Exec is served under."
        )
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

# The run command serves on EXEC_PORT, so links follow it unless set.
_port = env_int("EXEC_PORT", 8000, minimum=1, maximum=65535)
# The organization named on the cover of audit reports.
EXEC_ORGANIZATION = env_str("EXEC_ORGANIZATION", "Exec") or "Exec"

EXEC_BASE_URL = (
    env_url("EXEC_BASE_URL", f"http://127.0.0.1:{_port}", ("http", "https")) or ""
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "auditlog",
    "guardian",
    "exec_site",
    "endpoints",
    "connectors",
    "playbooks",
    "identities",
    "forensics",
    "approvals",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "exec_site.timezones.ViewerTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "exec_site.urls"
WSGI_APPLICATION = "exec_site.wsgi.application"

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
                "approvals.context_processors.pending_count",
                "exec_site.timezones.zone_name",
            ],
        },
    },
]


def _database(url: str) -> dict:
    """Build the Django database settings from DATABASE_URL."""
    accepted = "postgres://USER@HOST:5432/NAME or sqlite:////absolute/path.sqlite3"
    scheme = url.split(":", 1)[0]
    if scheme not in ("postgres", "postgresql", "sqlite"):
        raise SettingsError(
            f"DATABASE_URL: unsupported scheme {scheme!r}; use {accepted}."
        )
    try:
        config = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as error:
        raise SettingsError(
            f"DATABASE_URL: invalid URL ({error}); use {accepted}."
        ) from None

    if config["ENGINE"] == "django.db.backends.sqlite3":
        if not config["NAME"] or not Path(config["NAME"]).is_absolute():
            raise SettingsError(
                f"DATABASE_URL: SQLite needs an absolute file path; use {accepted}."
            )
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # WAL lets readers go on while one connection writes; IMMEDIATE takes
            # the write lock at BEGIN, so a transaction that reads and then
            # writes waits for the lock instead of failing with "database is
            # locked" when another writer got there first.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("EXEC_SQLITE_TIMEOUT", 30, minimum=1),
        }
        config["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    elif not config.get("HOST"):
        raise SettingsError(f"DATABASE_URL: PostgreSQL needs a host; use {accepted}.")
    else:
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'exec.sqlite3'}")
DATABASES = {"default": _database(DATABASE_URL or "")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", None, ("redis", "rediss", "unix"))

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    # A database cache is shared by the web server and the django-q2 cluster,
    # which keeps the cluster's statistics visible to /healthz.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "exec_cache",
        }
    }

# django-q2 kills a task that runs longer than `timeout`. It hands out again a
# task that is not acknowledged within `retry`, so `retry` must stay above
# `timeout` or a slow task would run twice.
Q_TIMEOUT = env_int("EXEC_TASK_TIMEOUT", 300, minimum=10)
Q_CLUSTER = {
    # Clusters that share a broker and a name take each other's tasks.
    "name": env_str("EXEC_QUEUE_NAME", "exec"),
    "workers": env_int("EXEC_WORKERS", 2, minimum=1),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.2

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Exec grants nothing to anonymous users, so guardian needs no anonymous row.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

LOGIN_URL = "admin:login"

# Approvals: a step whose approval_timeout_minutes is 0 waits this long, and
# approvers get a reminder when this percentage of the wait is left (0: none).
EXEC_APPROVAL_TIMEOUT_MINUTES = env_int(
    "EXEC_APPROVAL_TIMEOUT_MINUTES", 24 * 60, minimum=1
)
EXEC_APPROVAL_REMINDER_PERCENT = env_int(
    "EXEC_APPROVAL_REMINDER_PERCENT", 25, minimum=0, maximum=99
)

# Outgoing email, such as approval requests to approvers. In development with
# no EXEC_SMTP_HOST set, mail is printed to the console instead, so that a demo
# needs no mail server.
_smtp_host = env_str("EXEC_SMTP_HOST")
if DEBUG and _smtp_host is None:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_HOST = _smtp_host or "127.0.0.1"
EMAIL_PORT = env_int("EXEC_SMTP_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EXEC_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_str("EXEC_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EXEC_SMTP_STARTTLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("EXEC_EMAIL_FROM", "exec@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("EXEC_STATIC_ROOT") or VAR_DIR / "static")
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("EXEC_MEDIA_ROOT") or VAR_DIR / "media")

# Forensics uploads: the limits bound what an agent's zip may cost the server.
FORENSICS_MAX_UPLOAD_BYTES = env_int(
    "EXEC_FORENSICS_MAX_UPLOAD_BYTES", 512 * 1024 * 1024, minimum=1024
)
FORENSICS_MAX_UNCOMPRESSED_BYTES = env_int(
    "EXEC_FORENSICS_MAX_UNCOMPRESSED_BYTES", 4 * 1024**3, minimum=1024
)
FORENSICS_MAX_COMPRESSION_RATIO = env_int(
    "EXEC_FORENSICS_MAX_COMPRESSION_RATIO", 200, minimum=2
)
FORENSICS_RETENTION_DAYS = env_int("EXEC_FORENSICS_RETENTION_DAYS", 90, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["exec_site.permissions.ModelPermissions"],
    "DEFAULT_PARSER_CLASSES": [
        "exec_site.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Exec API",
    "DESCRIPTION": "Response automation: endpoints, detections, playbooks, "
    "approvals, forensics and the audit trail.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v[0-9]+",
    # Serve the Swagger UI assets from Exec itself, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# With DEBUG off these default to the secure values; behind a proxy that
# terminates TLS, set EXEC_SECURE_PROXY_SSL_HEADER=1 so Django trusts
# X-Forwarded-Proto, or turn the redirect off.
_secure = not DEBUG
SECURE_SSL_REDIRECT = env_bool("EXEC_SECURE_SSL_REDIRECT", _secure)
SESSION_COOKIE_SECURE = env_bool("EXEC_SECURE_COOKIES", _secure)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int(
    "EXEC_HSTS_SECONDS", 31_536_000 if _secure else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("EXEC_HSTS_INCLUDE_SUBDOMAINS", _secure)
SECURE_HSTS_PRELOAD = env_bool("EXEC_HSTS_PRELOAD", _secure)
if env_bool("EXEC_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("EXEC_CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Endpoints: agents check in every EXEC_CHECKIN_INTERVAL seconds. The silence
# sweep marks an endpoint offline after two missed check-ins plus a grace
# period, and missing after EXEC_MISSING_AFTER_DAYS days of silence.
EXEC_CHECKIN_INTERVAL = env_int("EXEC_CHECKIN_INTERVAL", 60, minimum=10)
EXEC_OFFLINE_GRACE = env_int("EXEC_OFFLINE_GRACE", 60, minimum=0)
EXEC_MISSING_AFTER_DAYS = env_int("EXEC_MISSING_AFTER_DAYS", 7, minimum=1)
# Seconds an agent has to report the result of a task after the task was
# delivered. The sweep fails tasks still `sent` or `running` after that, so
# that a playbook step waiting for a lost task does not wait forever.
EXEC_AGENT_TASK_TIMEOUT = env_int("EXEC_AGENT_TASK_TIMEOUT", 7200, minimum=60)
# Largest JSON body, in bytes, that the agent API reads; larger ones get 413.
EXEC_AGENT_MAX_BODY = env_int("EXEC_AGENT_MAX_BODY", 1_048_576, minimum=1024)

# The hourly audit anchor task appends the chain head to this file, as well as
# logging it. A relative path would depend on each process's working folder.
_anchor_file = env_str("EXEC_AUDIT_ANCHOR_FILE")
if _anchor_file is not None and not Path(_anchor_file).is_absolute():
    raise SettingsError(
        f"EXEC_AUDIT_ANCHOR_FILE: {_anchor_file!r} is a relative path; use an "
        "absolute path such as /var/lib/exec-anchors/audit-anchors.jsonl."
    )
EXEC_AUDIT_ANCHOR_FILE = Path(_anchor_file) if _anchor_file else None

LOG_LEVEL = env_choice(
    "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "utc": {
            "()": "exec_site.log.UTCFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "utc"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # django-q2 installs a handler of its own unless its logger has one.
        "django-q": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Django's own configuration gives these loggers handlers of their
        # own, which printed each error twice and request lines in local time.
        # They share the UTC console handler instead.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {
            "handlers": ["console"],
            "level": LOG_LEVEL,
            "propagate": False,
        },
        "django.db.backends": {"level": "INFO"},
        # urllib3 logs each request's path at DEBUG, and a Slack webhook's path
        # is its secret.
        "urllib3": {"level": "INFO"},
    },
}
