"""Settings, read from the environment. Every variable is listed in .env.example.

Each value has a safe development default or fails loudly when it is malformed; any of them
can be read from a file instead, `NAME_FILE=/path` (myproject/env.py).
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from myproject import defaults
from myproject.env import env_bool, env_float, env_int, env_list, env_str
from myproject.flower import flower_address

VAR_DIR = Path(env_str("VAR_DIR", str(defaults.VAR_DIR)))


def _checkout_secret_key() -> str:
    # Without DJANGO_SECRET_KEY: the checkout's own random key, which `make up` makes once
    # (myproject/stack.py), kept under var/ so sessions and signed models survive a restart.
    path = VAR_DIR / defaults.SECRET_KEY_FILE
    if not path.exists():
        raise ImproperlyConfigured(
            f"Set DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE); `make up` makes a checkout's own in {path}"
        )
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or _checkout_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
# How clients reach this site, e.g. https://ml.example.com: makes the `urls` of a job (in
# API answers and webhook bodies) absolute. Unset, they are paths from the site's root.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").rstrip("/")
# Behind TLS (a proxy that sets X-Forwarded-Proto): secure cookies, HSTS, https redirects.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Health checks and Prometheus' scrapes come from inside (the orchestrator, the load
    # balancer, Prometheus), over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
    # The platform's own subdomains (if any) are its own: HTTPS too.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading is a promise to browsers (hstspreload.org) only a domain's owner can make.
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
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
    "axes",
    "predictor",
    "workers",
    "api",
]

MIDDLEWARE = [
    # First: every answer is counted and timed by its route, a refusal too (myproject/metrics.py).
    "api.middleware.RequestMetricsMiddleware",
    # Then every answer, a refusal too, names its request (X-Request-ID; myproject/logs.py).
    "api.middleware.RequestIdMiddleware",
    # Then an oversized body is refused before anything else spends time on it.
    "api.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "api.middleware.RateLimitHeadersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into api/lockout.py's page.
    "axes.middleware.AxesMiddleware",
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

# Counts failed logins and refuses a locked username before the password is checked.
AUTHENTICATION_BACKENDS = [
    "api.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins per username before it is locked (every login: API, page, admin), and for
# how long. Per username, not per address: guesses spread over many addresses still count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = [
    # "Lock addresses too": addresses get AuthRateThrottle instead (a rate, per minute), so
    # many people behind one proxy or NAT are slowed down by a guesser among them, never
    # locked out for a quarter of an hour.
    "axes.W006",
    # "HSTS preload is off": the owner's choice, by DJANGO_HSTS_PRELOAD (see above).
    "security.W021",
]
AXES_RESET_ON_SUCCESS = True
# The client's address as the rate limits see it (NUM_PROXIES), for axes' records.
AXES_CLIENT_IP_CALLABLE = "api.throttles.client_address"
AXES_LOCKOUT_CALLABLE = "api.lockout.lockout_response"
# Failures are kept (the admin lists them); successful logins are not logged twice.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

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

# The largest request body accepted, in bytes; a bigger one is a 413. Room for the biggest
# legitimate body, a 10 MB CSV sample upload (api/parsers.py), with its headers.
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 12 * 1024 * 1024, minimum=1024)
# Django's own cap answers an HTML 400; equal to ours, a body it would refuse never gets there.
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, refusing tokens issued before the password last changed.
        "api.tokens.PlatformJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    # orjson (drf-orjson-renderer): a big job's answer renders many times faster than with json.
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.JSONRenderer"],
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
    # The login view sends Django's user_logged_in, which records last_login (api/views/accounts.py).
    "UPDATE_LAST_LOGIN": False,
    # A login starts a token family that rotation cannot extend past JWT_REFRESH_MAX_DAYS,
    # and every token is bound to the password (api/tokens.py).
    "TOKEN_OBTAIN_SERIALIZER": "api.tokens.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "api.tokens.TokenRefreshSerializer",
}
# The longest a login lasts, however often its refresh token is rotated: a stolen refresh
# token dies by then at the latest. Log in again after it.
JWT_REFRESH_MAX_LIFETIME = timedelta(days=env_int("JWT_REFRESH_MAX_DAYS", 30, minimum=1))

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
    # A job's and a batch's status: one enum by one name (predictor/history/base.py).
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "predictor.history.base.STATUSES"},
}

# --- Predictions --------------------------------------------------------------

MONGODB_URI = env_str("MONGODB_URI", defaults.MONGODB_URI)
# An administrator's URI, for `manage.py mongo_platform_user` alone (compose's setup step):
# it makes the user MONGODB_URI names. Empty: MongoDB runs without authentication.
MONGODB_ADMIN_URI = env_str("MONGODB_ADMIN_URI", "")
# A dead MongoDB must turn into a fast 503, not a 30 s hang.
MONGODB_TIMEOUT_MS = env_int("MONGODB_TIMEOUT_MS", 2000, minimum=100)
ARTIFACT_DIR = Path(env_str("ARTIFACT_DIR", str(VAR_DIR / "artifacts")))
# Signs each registered artifact (HMAC-SHA256); a worker loads only artifacts signed with
# it, so a file written straight into MongoDB (GridFS) or a job naming one is never
# unpickled. Unset, it is derived from DJANGO_SECRET_KEY; changing either makes the
# registered artifacts unloadable until `manage.py artifacts_resign` signs them again.
ARTIFACT_SIGNING_KEY = env_str("ARTIFACT_SIGNING_KEY", "")
# Artifacts stored before they were skops files are joblib pickles, loaded under their
# signature alone (predictor/artifacts.py). Once `python manage.py artifacts_convert` has
# rewritten them, turn this off: a leaked signing key then no longer means running code.
ARTIFACTS_ALLOW_PICKLE = env_bool("ARTIFACTS_ALLOW_PICKLE", True)
# One job holds at most this many rows: 1,000 rows of 30 features keep the job document
# near 1 MB (MongoDB's limit is 16 MB) and one vectorised predict well under a second.
PREDICTION_MAX_BATCH_ROWS = env_int("PREDICTION_MAX_BATCH_ROWS", 1000, minimum=1)
# Requests held by `Prefer: wait` at once, per web process; each holds a thread, so keep
# it below the server's threads per process (`threads` in myproject/gunicorn_conf.py).
PREDICTION_MAX_WAITERS = env_int("PREDICTION_MAX_WAITERS", 40, minimum=0)
# Webhooks to private, loopback and link-local addresses are refused unless this is on
# (tests and a single-machine setup turn it on).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10, minimum=1)
# Receivers that do not answer (predictor/webhooks.py, Lanes): one whose delivery ran out of
# time, or has waited this long, is slow; at most WEBHOOK_SLOW_SLOTS threads of a notifier
# wait on slow receivers at once, and a delivery that finds them all taken is put off
# (5 to 15 s, not an attempt) up to WEBHOOK_MAX_DEFERRALS times, about the retries' half hour.
WEBHOOK_SLOW_AFTER_S = env_int("WEBHOOK_SLOW_AFTER_S", 2, minimum=1)
WEBHOOK_SLOW_FOR_S = env_int("WEBHOOK_SLOW_FOR_S", 600, minimum=1)
WEBHOOK_SLOW_SLOTS = env_int("WEBHOOK_SLOW_SLOTS", 8, minimum=1)
WEBHOOK_MAX_DEFERRALS = env_int("WEBHOOK_MAX_DEFERRALS", 180, minimum=0)
# A job's end whose webhook delivery could not be published (Redis away) is published by
# the rescue sweep once the job has been over this long (predictor/history/jobs.py).
WEBHOOK_OUTBOX_GRACE_S = env_int("WEBHOOK_OUTBOX_GRACE_S", 30, minimum=1)
# New feedback labels one user may add in 24 hours (one full batch): feedback is training
# data nobody reviews, so it is bounded per account; the promotion gate still refuses a
# retrained model that scores worse on the held-out rows.
FEEDBACK_DAILY_QUOTA = env_int("FEEDBACK_DAILY_QUOTA", 1000, minimum=0)
# Micro-batching: a worker that takes a one-row job also takes up to this many queued
# one-row jobs of the same model version (1 turns it off), predicts them in one call and
# writes them back in one bulk write. When it finds some queued, it waits this long once
# for more; when it finds none (no load), it waits not at all.
PREDICTION_BATCH_MAX_JOBS = env_int("PREDICTION_BATCH_MAX_JOBS", 64, minimum=1)
PREDICTION_BATCH_MAX_WAIT_MS = env_int("PREDICTION_BATCH_MAX_WAIT_MS", 5, minimum=0)
# A job's first delivery holds it in Redis (workers/claims.py); a run that lasts this long
# writes `running` to MongoDB as well, where lists and the sweeper see it. Its own status
# (GET /api/v1/jobs/{id}) shows `running` from the start either way.
# At most 2.5 s: the Redis claim lives 5 s, and the write may take MONGODB_TIMEOUT_MS (2 s).
PREDICTION_RUNNING_MARK_MS = env_int("PREDICTION_RUNNING_MARK_MS", 1000, minimum=1)
if PREDICTION_RUNNING_MARK_MS > 2500:
    raise ImproperlyConfigured("PREDICTION_RUNNING_MARK_MS is at most 2500")
# After this many deliveries that never finished (a worker killed each time) a job fails.
PREDICTION_MAX_ATTEMPTS = env_int("PREDICTION_MAX_ATTEMPTS", 3, minimum=1)
# Loaded models each worker process keeps (predictor/model_cache.py: measured as loaded, not
# just by artifact size; least recently used out first). Per process: the predict worker's two
# pool processes (Procfile) hold up to 2 x 512 MB of models besides ~200 MB each of Python,
# Django and scikit-learn, which a 2-core container of 2 GB holds. The shipped models are
# under 1 MB together; a user's forest of 100 trees at most about 33 MB with its default
# leaves (predictor/estimators.py), hundreds with unbounded trees. A process peaks at about
# this plus the model it is loading. A model larger than this is still served, but kept
# only until the next load (0: keep only the model last loaded).
MODEL_CACHE_MB = env_int("MODEL_CACHE_MB", 512, minimum=0)

# Model files from outside (predictor/model_files.py): skops files only, never a pickle over
# HTTP. Their size limit, and the types trusted beyond the platform's own list (scikit-learn,
# numpy and scipy classes; a few named functions): exact dotted names, e.g.
# "mypackage.transformers.Clipper". The list is the operator's: never read from an upload.
MODEL_IMPORT_MAX_BYTES = env_int("MODEL_IMPORT_MAX_BYTES", 200 * 1024 * 1024, minimum=1)
MODEL_IMPORT_TRUSTED_TYPES = env_list("MODEL_IMPORT_TRUSTED_TYPES", "")

# Users' own tables (predictor/datasets.py, predictor/tabular/). They bound a training
# run's memory too: a run holds at most one such table, typed.
DATASET_MAX_BYTES = env_int("DATASET_MAX_BYTES", 100 * 1024 * 1024, minimum=1)
DATASET_MAX_ROWS = env_int("DATASET_MAX_ROWS", 1_000_000, minimum=2)
DATASET_MAX_COLUMNS = env_int("DATASET_MAX_COLUMNS", 500, minimum=1)
# A category column with more distinct values is refused as a feature (an id, a free-text
# note): one-hot encoding it would make the model huge and learn nothing general.
DATASET_MAX_CATEGORIES = env_int("DATASET_MAX_CATEGORIES", 1000, minimum=2)
# `estimator: auto` cross-validates every allowed estimator on at most this many training
# rows (a stratified sample beyond it), then fits the best on all of them: it keeps an
# auto run on a large table within the training time limit.
AUTO_CV_MAX_ROWS = env_int("AUTO_CV_MAX_ROWS", 20_000, minimum=10)
# Threads a training run's numeric libraries use (OpenMP for gradient boosting, BLAS). The
# train worker shares its host with the web and the predict workers: on a busy 2-core host,
# gradient boosting's OpenMP threads spent most of their time spin-waiting (py-spy), and
# one thread trained a 20,000-row `auto` run in 63 s against 148 s with the default.
TRAINING_THREADS = env_int("TRAINING_THREADS", 1, minimum=1)

# --- Celery -----------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL", defaults.REDIS_URL)
# Rate-limit counters, shared by every web process. A dead Redis makes them fail open.
CACHES = {
    "default": {
        "BACKEND": "myproject.cache.PlatformRedisCache",
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
# Batch files (POST /api/v1/batches/, predictor/batches.py): the largest upload, the rows a
# chunk (the unit of work and of retry) holds, the share of bad rows in the first chunk
# past which a batch stops early, a chunk's time limits, and how many tries of a chunk may
# die with their worker before it is given up (its rows become error lines). An upload that
# never became a batch (its web process died mid-way) is removed this long after it began:
# longer than the slowest upload may take.
BATCH_UPLOAD_ABANDONED_S = env_int("BATCH_UPLOAD_ABANDONED_S", 6 * 3600, minimum=60)
BATCH_FILE_MAX_BYTES = env_int("BATCH_FILE_MAX_BYTES", 1024 * 1024 * 1024, minimum=1)
BATCH_CHUNK_ROWS = env_int("BATCH_CHUNK_ROWS", 10_000, minimum=1)
BATCH_MAX_ERROR_RATE = env_float("BATCH_MAX_ERROR_RATE", 0.5, minimum=0.0, maximum=1.0)
BATCH_MAX_COLUMNS = env_int("BATCH_MAX_COLUMNS", 2_000, minimum=1)
BATCH_CHUNK_SOFT_TIME_LIMIT = env_int("BATCH_CHUNK_SOFT_TIME_LIMIT", 300, minimum=1)
BATCH_CHUNK_TIME_LIMIT = env_int("BATCH_CHUNK_TIME_LIMIT", 360, minimum=2)
BATCH_CHUNK_MAX_ATTEMPTS = env_int("BATCH_CHUNK_MAX_ATTEMPTS", 3, minimum=1)
# Redis hands an unacknowledged task to another worker after this long; it must
# exceed every hard time limit or a slow task would run twice.
BROKER_VISIBILITY_TIMEOUT = env_int("BROKER_VISIBILITY_TIMEOUT", 3600, minimum=60)
if not PREDICTION_SOFT_TIME_LIMIT < PREDICTION_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "Need PREDICTION_SOFT_TIME_LIMIT < PREDICTION_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT"
    )
if not BATCH_CHUNK_SOFT_TIME_LIMIT < BATCH_CHUNK_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "Need BATCH_CHUNK_SOFT_TIME_LIMIT < BATCH_CHUNK_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT"
    )
if not TRAINING_SOFT_TIME_LIMIT < TRAINING_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "Need TRAINING_SOFT_TIME_LIMIT < TRAINING_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT"
    )

CELERY_BROKER_URL = REDIS_URL
# kombu's Redis transport, reusing its publishing client (myproject/broker.py says why).
CELERY_BROKER_TRANSPORT = "myproject.broker:Transport"
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
# Each worker reserves one task per pool process, no more: a training run waiting behind a
# long one stays in the queue, free for another trainer.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "predict"
# Trainings have their own queue and workers, so a long one never delays predictions.
CELERY_TASK_ROUTES = {
    "workers.tasks.predict_task": {"queue": "predict"},
    "workers.tasks.train_task": {"queue": "train"},
    # A file's chunks: their own queue and worker (the Procfile's `batcher`, at a lower CPU
    # priority), so a million rows never stand between a one-row job and a predict worker.
    "workers.tasks.batch_chunk_task": {"queue": "batch"},
    "workers.tasks.nightly_retrain_task": {"queue": "train"},
    # Deliveries wait on other people's servers: their own queue and thread-pool worker.
    "workers.tasks.deliver_webhook_task": {"queue": "webhooks"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = True
# No "task-sent" event from every submit (one more Redis message each): Flower shows a task
# from the moment a worker receives it, and the job's own status says `queued` before that.
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A job still queued after this long is re-published by the sweeper (its task was lost).
STALE_JOB_SECONDS = env_int("STALE_JOB_SECONDS", 600, minimum=60)
# A prediction worker that has not said it is alive for this long, and does not answer a
# ping, is gone: its jobs are published again (workers/liveness.py). Celery heartbeats every 2 s.
WORKER_HEARTBEAT_TTL_S = env_int("WORKER_HEARTBEAT_TTL_S", 10, minimum=4)
WORKER_PING_TIMEOUT_S = 1.0
ORPHAN_SWEEP_SECONDS = env_int("ORPHAN_SWEEP_SECONDS", 10, minimum=2)
# Entries here are copied into django-celery-beat's tables, where the admin can edit them.
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-jobs": {
        "task": "workers.tasks.requeue_stale_jobs_task",
        "schedule": timedelta(minutes=1),
        "options": {"queue": "predict"},
    },
    "rescue-orphaned-jobs": {
        "task": "workers.tasks.rescue_orphaned_jobs_task",
        "schedule": timedelta(seconds=ORPHAN_SWEEP_SECONDS),
        "options": {"queue": "predict", "expires": ORPHAN_SWEEP_SECONDS},
    },
}
CELERY_TIMEZONE = TIME_ZONE

# --- Metrics ----------------------------------------------------------------

# `GET /metrics` (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; empty, it
# is a 404. Counts from several processes are merged when PROMETHEUS_MULTIPROC_DIR is set in
# their environment (prometheus_client reads it itself; myproject/metrics.py).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# A Celery worker with this set serves its own metrics on 0.0.0.0:METRICS_PORT (no token:
# keep the port unpublished, on the containers' network). 0: none.
METRICS_PORT = env_int("METRICS_PORT", 0, minimum=0)
if METRICS_PORT > 65535:
    raise ImproperlyConfigured(f"METRICS_PORT must be a TCP port (1-65535), got {METRICS_PORT}")

# --- Flower -----------------------------------------------------------------

# Where this web reaches Flower, which it serves to staff at /flower/ behind their login:
# unix:///path/flower.sock or http://host:port, Flower running with --url_prefix=flower.
# Empty: no Flower (/flower/ is a 404).
FLOWER_URL = env_str("FLOWER_URL", "")
if FLOWER_URL:
    try:
        flower_address(FLOWER_URL)
    except ValueError as problem:
        raise ImproperlyConfigured(str(problem)) from None
# Flower's own user:password (it keeps its lock too); the proxy sends the first pair.
FLOWER_BASIC_AUTH = env_str("FLOWER_BASIC_AUTH", "")

# `text` (readable) or `json` (one object a line, for log collectors); either way each line
# carries the request id and the job it is about (myproject/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "myproject.logs.ContextFilter"}},
    "formatters": {
        "text": {"()": "myproject.logs.TextFormatter"},
        "json": {"()": "myproject.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
