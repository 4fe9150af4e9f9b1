"""The platform's settings with one more URL, the web floor (bench/web_urls.py). Only the
bench's gunicorn runs with them; everything else is myproject/settings.py as it is."""

from myproject.settings import *  # noqa: F403

ROOT_URLCONF = "bench.web_urls"
