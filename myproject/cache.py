"""The shared cache (Redis): Django's RedisCache, with two changes.

JSONSerializer: Django's RedisCache pickles every value that is not an int, and unpickles
whatever it reads back: anyone who can SET a key in Redis (no password on a development
Redis) could run code in the web process at the next rate-limit check. JSON reads back
only data.
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
    fills a table of response callbacks per instance) costs more than the call itself: it
    was an eighth of a prediction submit's CPU. One per connection pool is enough; redis.Redis
    is safe to share between threads."""

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
