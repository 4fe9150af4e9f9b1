"""The API's JSON renderer: drf-orjson-renderer's, writing every value as DRF's own would.

orjson renders a 1,000-row job's answer in about 1 ms where Python's json takes about 14
(bench/RESULTS.md has the end-to-end figures). What orjson does not know natively, and
datetimes (passed through on purpose: DRF writes them with a `Z` and milliseconds), go to
DRF's encoder, so the bytes clients see keep their shape.
"""

import orjson
from drf_orjson_renderer.renderers import ORJSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_drf = JSONEncoder()


class JSONRenderer(ORJSONRenderer):
    options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY

    @staticmethod
    def default(obj):
        return _drf.default(obj)
