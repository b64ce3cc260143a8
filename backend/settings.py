"""Django settings for Doorstep; everything a deployment changes comes from the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
#: Where the embedded database, the development keyring and secret live (git-ignored).
VAR_DIR = Path(os.environ.get("DOORSTEP_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _private_file(path: Path) -> None:
    """Make the SQLite database ``path`` readable by this account only (0600), like the keyring:
    created empty that way if absent (an empty file is an empty database), tightened if not.
    SQLite gives the ``-wal`` and ``-shm`` files it creates the database file's mode."""
    if str(path) in {"", ":memory:"}:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if name.exists() and name.stat().st_mode & 0o077 and name.stat().st_uid == os.getuid():
            name.chmod(0o600)


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# --- HTTPS (production: deploy/ sets DOORSTEP_HTTPS=1; `make run` serves plain http locally). ---
#: Behind the TLS-terminating proxy (uvicorn --proxy-headers takes the scheme from its
#: X-Forwarded-Proto): cookies only over HTTPS, HSTS, and any plain-http request redirected.
DOORSTEP_HTTPS = _env_bool("DOORSTEP_HTTPS", False)
SESSION_COOKIE_SECURE = DOORSTEP_HTTPS
CSRF_COOKIE_SECURE = DOORSTEP_HTTPS
SECURE_SSL_REDIRECT = DOORSTEP_HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("DOORSTEP_HSTS_SECONDS", "31536000")) if DOORSTEP_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = DOORSTEP_HTTPS
SESSION_COOKIE_HTTPONLY = True
#: HSTS preload is a decision for the council's whole domain (it must be submitted for the
#: registrable domain, e.g. council.example), not for this service's host: left to them.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backend.common",
    "backend.accounts",
    "backend.audit",
    "backend.cases",
    "backend.keys",
    "backend.records",
    "backend.review",
    "backend.attention",
    "backend.syncapi",
    "backend.demo",
    "backend.webapp",
]

MIDDLEWARE = [
    "backend.common.middleware.BodySizeLimitMiddleware",
    "backend.common.middleware.SafeTextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, though it serves /static/: it is the only sync-only middleware, and under ASGI every
    # switch between sync and async middleware costs a thread hop. Here it shares the view's.
    "whitenoise.middleware.WhiteNoiseMiddleware",
]

ROOT_URLCONF = "backend.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
ASGI_APPLICATION = "backend.asgi.application"

# --- Database: embedded SQLite by default, PostgreSQL in production (DATABASE_URL). ---
_sqlite_path = VAR_DIR / "doorstep.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{_sqlite_path}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # ASGI serves each request on its own thread, so Django's persistent connections would pile
    # up (one per thread) until PostgreSQL refuses more; a per-process pool reuses a bounded set.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN", "2")),
        "max_size": int(os.environ.get("DB_POOL_MAX", "16")),
        "timeout": 10,
    }
    # Per process, so concurrent test runs against one server (a CI run and a developer's, or
    # two helpers') each get their own test database instead of dropping each other's.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _private_file(Path(DATABASES["default"]["NAME"]))
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
        # failing with "database is locked" on lock upgrade; WAL lets readers run meanwhile.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A real file, not :memory:, so tests can inspect what is at rest in the database file.
    # Per process, so two test runs on one checkout cannot trip over each other's file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-doorstep-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
#: The only backend: Django's password check behind the sign-in throttle (no channel bypasses it).
AUTHENTICATION_BACKENDS = ["backend.accounts.backends.ThrottledModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
if _env_bool("DOORSTEP_FAST_PASSWORD_HASHER", False):
    # Tests and the demo seed only: hashing 16 demo passwords at full cost is slow on 2 cores.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Request size limits (documented in docs/api.md). ---
#: Largest REST request body; a visit with every text field full is well under this.
DOORSTEP_MAX_REST_BODY = int(os.environ.get("DOORSTEP_MAX_REST_BODY", str(1024 * 1024)))
#: Largest replication request body (_bulk_docs, _bulk_get, _revs_diff); larger → 413.
DOORSTEP_MAX_SYNC_BODY = int(os.environ.get("DOORSTEP_MAX_SYNC_BODY", str(8 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = max(DOORSTEP_MAX_REST_BODY, DOORSTEP_MAX_SYNC_BODY)

# --- Tokens, login throttling, revision trees. ---
DOORSTEP_TOKEN_TTL_HOURS = int(os.environ.get("DOORSTEP_TOKEN_TTL_HOURS", "12"))
DOORSTEP_DEVICE_TOKEN_TTL_DAYS = int(os.environ.get("DOORSTEP_DEVICE_TOKEN_TTL_DAYS", "30"))
#: Sign-in throttle, per account and source address, on every channel (accounts/throttle.py):
#: attempts allowed before the back-off starts, its first wait (doubling with each further
#: attempt) and its cap, and the quiet spell after which past failures are forgotten.
DOORSTEP_LOGIN_FAILURES_ALLOWED = int(os.environ.get("DOORSTEP_LOGIN_FAILURES_ALLOWED", "5"))
DOORSTEP_LOGIN_BACKOFF_SECONDS = int(os.environ.get("DOORSTEP_LOGIN_BACKOFF_SECONDS", "60"))
DOORSTEP_LOGIN_BACKOFF_MAX_SECONDS = int(os.environ.get("DOORSTEP_LOGIN_BACKOFF_MAX_SECONDS", "3600"))
DOORSTEP_LOGIN_FAILURE_WINDOW_MINUTES = int(os.environ.get("DOORSTEP_LOGIN_FAILURE_WINDOW_MINUTES", "15"))
#: Days after an allocation ends during which a device that held the case may still push the
#: edits it made offline (they are accepted, audited as late edits and listed for the team's
#: supervisors); 0 refuses them (docs/sync-protocol.md).
DOORSTEP_LATE_EDIT_DAYS = int(os.environ.get("DOORSTEP_LATE_EDIT_DAYS", "14"))
#: Minutes without a touch or key press before the tablet app locks itself (the form in progress
#: is kept sealed and comes back on unlock); the council's choice, served at /api/tablet/settings/.
DOORSTEP_IDLE_LOCK_MINUTES = int(os.environ.get("DOORSTEP_IDLE_LOCK_MINUTES", "15"))
#: Depth the revision *tree* is stemmed to; every revision body is kept regardless.
DOORSTEP_REVS_LIMIT = int(os.environ.get("DOORSTEP_REVS_LIMIT", "1000"))

# --- Server keyring (key-encryption keys for case data keys). ---
#: JSON keyring in the environment wins; else a key file; a development keyring is generated
#: on first run at var/keyring.json (git-ignored) unless DOORSTEP_REQUIRE_KEYRING is set.
DOORSTEP_KEYRING = os.environ.get("DOORSTEP_KEYRING", "")
DOORSTEP_KEY_FILE = Path(os.environ.get("DOORSTEP_KEY_FILE", VAR_DIR / "keyring.json"))
DOORSTEP_REQUIRE_KEYRING = _env_bool("DOORSTEP_REQUIRE_KEYRING", False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["backend.accounts.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["backend.common.parsers.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "backend.common.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "backend.common.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "backend.common.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Doorstep API",
    "DESCRIPTION": "Case records, allocations, devices, review and audit for children's and family services.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies here are JSON merge patches of ``content`` that still require ``rev``: the
    # request component is the same as for PUT, not an all-optional "Patched…" copy.
    "COMPONENT_SPLIT_PATCH": False,
    "OAS_VERSION": "3.1.0",
}

# --- Logging: request paths and error codes only; case content never reaches a log line. ---
LOG_LEVEL = os.environ.get("DOORSTEP_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
