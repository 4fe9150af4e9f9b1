"""Settings, read from the environment. Every variable is listed in .env.example.

Each value has a safe development default or fails loudly when it is malformed.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))


def _dev_secret_key() -> str:
    # A per-checkout random key, kept under var/ so sessions survive a restart.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or _dev_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
# How clients reach this site, e.g. https://ml.example.com: makes the `urls` of a job (in
# API answers and webhook bodies) absolute. Unset, they are paths from the site's root.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")
# Behind TLS (a proxy that sets X-Forwarded-Proto): secure cookies, HSTS, https redirects.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "predictor",
    "workers",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "api.middleware.RateLimitHeadersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "myproject.urls"
WSGI_APPLICATION = "myproject.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and beat share the file: wait for a lock rather than fail at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "index"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- REST API ---------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "submit": env_str("THROTTLE_SUBMIT", "120/minute"),
        "auth": env_str("THROTTLE_AUTH", "20/minute"),
    },
    # Proxies in front of gunicorn that set X-Forwarded-For. 0 (no proxy): a client's own
    # X-Forwarded-For is ignored, so it cannot reset its rate limits by forging one.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
    # `?format=csv` is the history's export, not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Prediction platform API",
    "DESCRIPTION": "Queue scikit-learn predictions and read their history.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components: what a client sends is not what it reads.
    "COMPONENT_SPLIT_REQUEST": True,
    # Group operations by what follows /api/v1/ (auth, predictions, models, trainings, ...).
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI from this server, not a CDN: the docs work on a closed network too.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Predictions --------------------------------------------------------------

MONGODB_URI = env_str("MONGODB_URI", "mongodb://127.0.0.1:27018/predictions?retryWrites=false")
# A dead MongoDB must turn into a fast 503, not a 30 s hang.
MONGODB_TIMEOUT_MS = env_int("MONGODB_TIMEOUT_MS", 2000, minimum=100)
ARTIFACT_DIR = Path(env_str("ARTIFACT_DIR", str(VAR_DIR / "artifacts")))
# Signs each registered artifact (HMAC-SHA256); a worker loads only artifacts signed with
# it, so a file written straight into MongoDB (GridFS) or a job naming one is never
# unpickled. Unset, it is derived from DJANGO_SECRET_KEY; changing either makes the
# registered artifacts unloadable until `manage.py artifacts_resign` signs them again.
ARTIFACT_SIGNING_KEY = env_str("ARTIFACT_SIGNING_KEY", "")
# One job holds at most this many rows: 1,000 rows of 30 features keep the job document
# near 1 MB (MongoDB's limit is 16 MB) and one vectorised predict well under a second.
PREDICTION_MAX_BATCH_ROWS = env_int("PREDICTION_MAX_BATCH_ROWS", 1000, minimum=1)
# Requests held by `Prefer: wait` at once, per web process; each holds a thread, so keep
# it below the server's threads per process (the Procfile runs gunicorn with 48).
PREDICTION_MAX_WAITERS = env_int("PREDICTION_MAX_WAITERS", 40, minimum=0)
# Webhooks to private, loopback and link-local addresses are refused unless this is on
# (tests and a single-machine setup turn it on).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10, minimum=1)
# After this many deliveries that never finished (a worker killed each time) a job fails.
PREDICTION_MAX_ATTEMPTS = env_int("PREDICTION_MAX_ATTEMPTS", 3, minimum=1)

# --- Celery -----------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Rate-limit counters, shared by every web process. A dead Redis makes them fail open.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # JSON, not Django's default pickle: a value planted in Redis must never run code here.
        "OPTIONS": {
            "socket_connect_timeout": 1,
            "socket_timeout": 1,
            "serializer": "myproject.cache.JSONSerializer",
        },
        "KEY_PREFIX": "platform",
    }
}

PREDICTION_SOFT_TIME_LIMIT = env_int("PREDICTION_SOFT_TIME_LIMIT", 30, minimum=1)
PREDICTION_TIME_LIMIT = env_int("PREDICTION_TIME_LIMIT", 60, minimum=2)
TRAINING_SOFT_TIME_LIMIT = env_int("TRAINING_SOFT_TIME_LIMIT", 600, minimum=1)
TRAINING_TIME_LIMIT = env_int("TRAINING_TIME_LIMIT", 900, minimum=2)
TRAINING_MAX_ATTEMPTS = env_int("TRAINING_MAX_ATTEMPTS", 3, minimum=1)
# Redis hands an unacknowledged task to another worker after this long; it must
# exceed every hard time limit or a slow task would run twice.
BROKER_VISIBILITY_TIMEOUT = env_int("BROKER_VISIBILITY_TIMEOUT", 3600, minimum=60)
for _kind in ("PREDICTION", "TRAINING"):
    if (
        not globals()[f"{_kind}_SOFT_TIME_LIMIT"]
        < globals()[f"{_kind}_TIME_LIMIT"]
        < BROKER_VISIBILITY_TIMEOUT
    ):
        raise ImproperlyConfigured(
            f"Need {_kind}_SOFT_TIME_LIMIT < {_kind}_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT"
        )

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
# Publishing to a dead broker gives up after about two seconds; the API answers 503.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# MongoDB holds job state; Celery results would be a second, unread copy.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "predict"
# Trainings have their own queue and workers, so a long one never delays predictions.
CELERY_TASK_ROUTES = {
    "workers.tasks.predict_task": {"queue": "predict"},
    "workers.tasks.train_task": {"queue": "train"},
    "workers.tasks.nightly_retrain_task": {"queue": "train"},
    # Deliveries wait on other people's servers: their own queue and thread-pool worker.
    "workers.tasks.deliver_webhook_task": {"queue": "webhooks"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A job still queued after this long is re-published by the sweeper (its task was lost).
STALE_JOB_SECONDS = env_int("STALE_JOB_SECONDS", 600, minimum=60)
# Entries here are copied into django-celery-beat's tables, where the admin can edit them.
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-jobs": {
        "task": "workers.tasks.requeue_stale_jobs_task",
        "schedule": timedelta(minutes=1),
        "options": {"queue": "predict"},
    },
}
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
