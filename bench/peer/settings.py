"""The tutorial app's Django settings: auth and contenttypes (users for the tokens), DRF with
simplejwt's JWT authentication on every view, JSON in and out, SQLite for the users.

From the environment (bench/peer_run.py sets them): PEER_VAR_DIR (the SQLite file's
directory, inside the bench's temporary one), PEER_SECRET_KEY, PEER_BROKER_URL (a Redis
database of its own) and PEER_RESULT_BACKEND (a MongoDB database of its own).
"""

import os
from datetime import timedelta
from pathlib import Path

VAR_DIR = Path(os.environ["PEER_VAR_DIR"])
SECRET_KEY = os.environ["PEER_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt",
]
# An API of bearer tokens: no sessions, no CSRF, no templates.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "bench.peer.urls"
WSGI_APPLICATION = "bench.peer.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "peer.sqlite3",
        # A connection kept per thread, as the platform keeps its own (CONN_MAX_AGE=60).
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"timeout": 20},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
# Tokens outlive a bench run (simplejwt's default is 5 minutes).
SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(hours=2)}

# Celery reads the CELERY_ settings (celery_app.py): JSON messages and results.
CELERY_BROKER_URL = os.environ["PEER_BROKER_URL"]
CELERY_RESULT_BACKEND = os.environ["PEER_RESULT_BACKEND"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
