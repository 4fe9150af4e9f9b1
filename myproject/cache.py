"""A cache serializer that never unpickles.

Django's RedisCache pickles every value that is not an int, and unpickles whatever it
reads back: anyone who can SET a key in Redis (no password on a development Redis) could
run code in the web process at the next rate-limit check. JSON reads back only data.
"""

import json


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
