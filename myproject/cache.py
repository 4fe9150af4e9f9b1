"""The shared cache (Redis): Django's RedisCache, with two changes.

JSONSerializer: Django's RedisCache pickles every value that is not an int, and unpickles
whatever it reads back: anyone who can SET a key in Redis (no password on a development
Redis) could run code in the web process at the next rate-limit check. JSON reads back
only data.

ReusingClientRedisCacheClient: one redis.Redis per connection pool, not one per cache call.
"""

import json

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class JSONSerializer:
    def dumps(self, obj):
        # Plain ints stay ints, as in Django's own serializer, so incr() and decr() work.
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":")).encode()

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            return json.loads(data)


class ReusingClientRedisCacheClient(RedisCacheClient):
    """Django's client builds a redis.Redis for every cache call, and building one (redis-py
    fills a table of response callbacks per instance) costs more than the call itself. One
    per connection pool is enough; redis.Redis is safe to share between threads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class PlatformRedisCache(RedisCache):
    """Django's RedisCache with ReusingClientRedisCacheClient (and, by OPTIONS, JSONSerializer)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingClientRedisCacheClient

    def redis_client(self):
        """The redis.Redis behind this cache (its keys unprefixed), for what is not a cache
        value: worker liveness (workers/liveness.py)."""
        return self._cache.get_client(write=True)

    def window_counts(self, current: str, previous: str, *, ttl: int) -> tuple[int, int]:
        """Count one more in `current` and read `previous`, in one round trip: (current
        count with this one, previous count). Both keys expire `ttl` seconds after the
        current one is first counted. For the rate limits (api/throttles.py)."""
        current, previous = self.make_and_validate_key(current), self.make_and_validate_key(previous)
        pipe = self._cache.get_client(write=True).pipeline(transaction=False)
        pipe.incr(current)
        pipe.expire(current, ttl, nx=True)
        pipe.get(previous)
        counted, _, before = pipe.execute()
        return counted, int(before or 0)

    def window_uncount(self, current: str) -> None:
        """Take back one count of `current` (a refused request does not spend the budget)."""
        self._cache.get_client(write=True).decr(self.make_and_validate_key(current))
