"""A pickle planted in Redis (the rate-limit cache) must never be unpickled by the web."""

import json
import pickle
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.clients import PASSWORD


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_cache_round_trips_what_the_rate_limits_store():
    cache.set("history", [1764201600.25, 1764201599.5])
    cache.set("count", 3)
    assert cache.get("history") == [1764201600.25, 1764201599.5]
    assert cache.incr("count") == 4


def test_a_pickle_written_to_the_login_throttle_key_is_never_loaded(make_user, tmp_path, caplog):
    make_user("mallory-target")
    marker = tmp_path / "attacker-code-ran"
    planted = pickle.dumps(Payload(marker))
    pickle.loads(planted)  # the payload works: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()
    # The keys the login limit counts in and reads for this client address (api/throttles.py:
    # the current window, the previous one), around the moment of the request.
    window = int(time.time() // 60)
    for index in (window - 1, window, window + 1):
        redis.Redis.from_url(settings.REDIS_URL).set(
            cache.make_key(f"throttle_auth_127.0.0.1:{index}"), planted
        )

    response = APIClient().post(
        "/login/", {"username": "mallory-target", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert not marker.exists(), "the web process unpickled a value planted in Redis"
    # The planted keys are the ones the limit used: it could not count in them (they hold no
    # number) and let the login through, failing open (api/throttles.py).
    assert "rate limit not applied" in caplog.text


@pytest.mark.parametrize("value", [b"\x80\x04K\x01.", b"not json", b"[1, 2"])
def test_garbage_in_the_cache_reads_as_an_error_not_as_code(value):
    redis.Redis.from_url(settings.REDIS_URL).set(cache.make_key("planted"), value)
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        cache.get("planted")


def test_the_cache_reuses_one_redis_client_per_pool():
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    cache.set("reused", [1.5])
    assert cache.get("reused") == [1.5]
