"""Settings for the test run: the project's settings, pointed at the test's own services.

Chosen before Django reads anything, so the test process, the live worker (which gets the
same environment) and the servers the fixtures start all agree. Nothing here touches the
data of a running `make up`: other ports, other database names, a temporary var/.
"""

import os
import secrets
import tempfile
from pathlib import Path

from myproject.servers import free_port, mongo_uri

_var = Path(tempfile.mkdtemp(prefix="platform-test-"))
(_var / "static").mkdir()
os.environ["VAR_DIR"] = str(_var)
os.environ["ARTIFACT_DIR"] = str(_var / "artifacts")

if os.environ.get("TEST_MONGODB_URI"):
    # Run the suite against a real MongoDB instead of the embedded SecantusDB.
    os.environ["MONGODB_URI"] = os.environ["TEST_MONGODB_URI"]
else:
    os.environ["TEST_MONGO_PORT"] = str(free_port())
    os.environ["MONGODB_URI"] = mongo_uri(int(os.environ["TEST_MONGO_PORT"]), "predictions_test")

if os.environ.get("TEST_REDIS_URL"):
    os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
else:
    # A private redis-server per test session, even when the machine runs one: two sessions
    # (a developer's and CI's) sharing queues would run each other's tasks.
    os.environ["TEST_REDIS_PORT"] = str(free_port())
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{os.environ['TEST_REDIS_PORT']}/0"

# One key for every process of the run (workers, web servers with their own var/): it signs
# the registry's artifacts, and a worker refuses any it cannot verify.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-" + secrets.token_urlsafe(32))

# The suite's webhook receivers listen on 127.0.0.1.
os.environ["WEBHOOK_ALLOW_PRIVATE"] = "true"

from myproject.settings import *  # noqa: E402, F403

# Password hashing at full strength only slows the suite; it changes no behaviour under test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the live training worker (another process) reads and writes it.
    DATABASES["default"]["TEST"] = {"NAME": str(_var / "test.sqlite3")}  # noqa: F405
else:
    # A test database of this run's own: two runs on one server (a developer's and CI's)
    # would otherwise drop each other's `test_<name>` midway.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
