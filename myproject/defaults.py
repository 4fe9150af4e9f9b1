"""What the platform uses where nothing is set: where its data lives, where its services
listen. One home for settings.py (Django's settings) and stack.py (`make up`, which runs
before Django is set up and reads no settings); the standard library only.
"""

from pathlib import Path

from myproject.servers import mongo_uri, redis_url

# The checkout (the image's /app).
ROOT = Path(__file__).resolve().parent.parent
# Data, generated secrets and logs (VAR_DIR): var/ in the checkout.
VAR_DIR = ROOT / "var"
# Without DJANGO_SECRET_KEY: the checkout's own key, in this file of VAR_DIR; `make up` makes it.
SECRET_KEY_FILE = "secret_key"
# The password of the `admin` account `make up` makes, in this file of VAR_DIR (make fuzz reads it).
ADMIN_PASSWORD_FILE = "admin-password"
# `manage.py setup_platform --no-train` exits with this when a model still needs training, and
# `make up` then trains (myproject/stack.py, api/management/commands/setup_platform.py).
NEEDS_TRAINING = 3

# The ports Redis and MongoDB listen on when a URL names none.
REDIS_PORT = 6379
MONGO_PORT = 27017
REDIS_URL = redis_url(REDIS_PORT)
# `make up`'s private servers, when no Redis answers at REDIS_URL and MONGODB_URI is not set.
# 27018, not 27017: a real mongod on this machine keeps its port.
PRIVATE_REDIS_PORT = 6390
PRIVATE_MONGO_PORT = 27018
MONGO_DATABASE = "predictions"
MONGODB_URI = mongo_uri(PRIVATE_MONGO_PORT, MONGO_DATABASE)

# Where the web listens (WEB_BIND; myproject/gunicorn_conf.py). The image listens on every
# interface instead (docker/Dockerfile).
WEB_BIND = "127.0.0.1:8000"
