"""kombu's Redis transport, making one Redis client per channel rather than one per message.

kombu 5.7's Redis channel builds a new `redis.Redis` (on its existing connection pool) for
every message it publishes: a task sent, a task event. Building one costs about as much as
sending the message (redis-py fills a table of response callbacks each time, as in
myproject/cache.py). A `redis.Redis` is safe to share (it takes a pooled connection per
command), so each channel keeps the one it makes. Chosen by CELERY_BROKER_TRANSPORT
(myproject/settings.py); everything else is kombu's own. tests/workers/test_broker.py checks
the reuse and a full round trip.
"""

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _publishing_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:  # the consuming client (BRPOP, pub/sub): kombu manages it per use
            return super()._create_client(asynchronous=True)
        if self._publishing_client is None:
            self._publishing_client = super()._create_client()
        return self._publishing_client


class Transport(kombu_redis.Transport):
    Channel = Channel
