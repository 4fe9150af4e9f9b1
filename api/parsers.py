import re
from itertools import accumulate

import orjson
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# A CSV upload is parsed whole in memory; 10 MB is ~10,000 rows of 30 features with room.
MAX_CSV_BYTES = 10 * 1024 * 1024

# Real bodies nest 3 or 4 levels ({"inputs": [{...}]}). The bound keeps deep data away from
# everything that recurses over it: Python's json, the serializers, api.errors' flattening,
# and BSON, which refuses documents nested over 100 levels.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON may nest at most {MAX_JSON_DEPTH} levels deep."

# A JSON string, escapes included: brackets inside one do not nest anything.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_BRACKET_DEPTH = tuple({ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}.get(i, 0) for i in range(256))


def json_depth(text: str) -> int:
    """How deep `text`'s arrays and objects nest, counted without recursing.

    Exact for valid JSON; for broken JSON it may be off, which json.loads then refuses anyway.
    Every step runs in C (re, bytes.translate, map, accumulate), so a 12 MB body takes
    a fraction of a second however its brackets are arranged.
    """
    outside_strings = _JSON_STRING.sub("", text).encode("ascii", "ignore")
    brackets = outside_strings.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_BRACKET_DEPTH.__getitem__, brackets)), default=0)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading with orjson, refusing nesting deeper than MAX_JSON_DEPTH
    with a 400.

    Unguarded, a 100,000-deep array makes json raise RecursionError: a 500, not a 400.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = (stream.read() if stream else b"").decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ParseError(TOO_DEEP)
        try:
            # orjson reads a 1,000-row batch in ~2 ms where json takes ~9. It refuses a few
            # bodies json reads (integers beyond 64 bits, which the validation then names)
            # or words differently: those, and broken JSON, go to json for the answer.
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            # Only if the depth count missed a shape: still the client's error, not a 500.
            raise ParseError(TOO_DEEP) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class CSVTextParser(parsers.BaseParser):
    """text/csv bodies arrive as text; the service reads the rows and names bad lines."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read(MAX_CSV_BYTES + 1) if stream else b""
        if len(data) > MAX_CSV_BYTES:
            raise ParseError(f"A CSV upload may be at most {MAX_CSV_BYTES // (1024 * 1024)} MB.")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"CSV must be UTF-8: {exc}") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, answering a form of too many fields or files with a 400 in
    the API's error shape: Django raises TooManyFieldsSent / TooManyFilesSent (over
    DATA_UPLOAD_MAX_NUMBER_FIELDS / _FILES), which DRF's parser lets through to Django's own
    HTML 400 (schemathesis found it: a model's `features` sent as 5,000 form fields)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
