"""Middleware: request metrics, the request id, response headers every rate-limited answer
carries, and the request-size limit."""

import functools
import logging
import re
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from myproject import logs, metrics

logger = logging.getLogger(__name__)

# Paths whose clients read the API's JSON error shape; the rest are pages for people.
API_PREFIXES = ("/api/", "/login/", "/register/")
# A refused body is read and dropped up to this size, so the client, still sending, gets
# to read the 413: closing a socket with unread data resets it, and the client sees a broken
# pipe instead of any answer. A bigger body is not worth a thread's time; it is cut off.
DISCARD_MAX_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024


class RequestMetricsMiddleware:
    """Counts and times every answer by URL route: the pattern that matched
    (`/api/v1/predictions/<str:job_id>/`), never the path, so however many ids clients send
    there is one series per pattern (myproject/metrics.py).

    First in MIDDLEWARE: answers given before the URL is resolved (a 413, a static file, an
    https redirect) are counted too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        metrics.request_observed(
            _route(request), request.method, response.status_code, time.perf_counter() - started
        )
        return response


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        # Answered before resolving: static files are many paths and one route; the rest
        # (a 413, a redirect) are resolved here so that they count against their route.
        if request.path.startswith(settings.STATIC_URL):
            return "<static>"
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "<unmatched>"
    return "/" + match.route


class RequestIdMiddleware:
    """The request's id (myproject/logs.py): the client's `X-Request-ID` when fit, else a new
    one; current while the request runs (every log line and every task it publishes carries
    it) and answered back in the same header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        current = logs.request_id_from(request.headers.get(logs.HEADER))
        token = logs.request_id.set(current)
        try:
            response = self.get_response(request)
        finally:
            logs.request_id.reset(token)
        response[logs.HEADER] = current
        return response


class RateLimitHeadersMiddleware:
    """`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds), as in the
    IETF RateLimit header fields draft, on every response a rate limit counted (see
    api/throttles.py), so clients can slow down before they meet a 429."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        rate_limit = getattr(request, "rate_limit", None)
        if rate_limit is not None:
            limit, remaining, reset = rate_limit
            response["RateLimit-Limit"] = str(limit)
            response["RateLimit-Remaining"] = str(remaining)
            response["RateLimit-Reset"] = str(reset)
        return response


class RequestSizeLimitMiddleware:
    """A body over REQUEST_MAX_BYTES is a 413 before any other code runs: JSON in the API's
    error shape on API paths, plain text elsewhere.

    It goes first in MIDDLEWARE so nothing else spends time on such a request. Django's own
    limit (DATA_UPLOAD_MAX_MEMORY_SIZE, whose RequestDataTooBig Django answers with an HTML
    400) is set to the same size; should a view still meet it, the answer is this 413 too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = _content_length(request)
        if length > _limit(request):
            logger.warning("refused a %d-byte body to %r", length, request.path)
            _discard(request, length)
            return _too_large(request)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return _too_large(request)
        return None


# Dataset uploads (api/views/datasets.py) are files of up to DATASET_MAX_BYTES, streamed to a
# temporary file, never held in memory; the form's other fields and its boundaries fit in 64 KB.
LARGE_UPLOAD_PATHS = ("/api/v1/datasets/", "/datasets/")
MULTIPART_OVERHEAD = 64 * 1024


# A model file imported (multipart, api/views/model_import.py), as a new version or a new
# model's first: up to MODEL_IMPORT_MAX_BYTES, streamed to a temporary file the same way.
MODEL_IMPORT_PATH = re.compile(r"^/api/v1/models/([-a-zA-Z0-9_]+/versions/)?$")


# A batch file (api/views/batches.py, and the predict page's file: api/views/predict_pages.py,
# predict_batch_page): up to BATCH_FILE_MAX_BYTES, streamed into GridFS.
BATCH_UPLOAD_PATHS = ("/api/v1/batches/", "/predict/batch/")


def _limit(request) -> int:
    if request.method == "POST" and request.path in BATCH_UPLOAD_PATHS:
        return max(settings.REQUEST_MAX_BYTES, settings.BATCH_FILE_MAX_BYTES + MULTIPART_OVERHEAD)
    if request.method == "POST" and request.path in LARGE_UPLOAD_PATHS:
        return max(settings.REQUEST_MAX_BYTES, settings.DATASET_MAX_BYTES + MULTIPART_OVERHEAD)
    multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
    if request.method == "POST" and multipart and MODEL_IMPORT_PATH.match(request.path):
        return max(settings.REQUEST_MAX_BYTES, settings.MODEL_IMPORT_MAX_BYTES + MULTIPART_OVERHEAD)
    return settings.REQUEST_MAX_BYTES


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # as Django reads it: no body


def _discard(request, length: int) -> None:
    # Left unread, the server closes the connection after the answer (gunicorn drains only
    # 64 KB of a body the app did not read); a WSGI app may not send `Connection` itself.
    if length > DISCARD_MAX_BYTES:
        return
    try:
        while request.read(_CHUNK):
            pass
    except OSError:
        pass  # the client hung up, or sent less than it announced: nobody reads the answer


def _too_large(request) -> HttpResponse:
    message = f"The request body may be at most {_size(_limit(request))}."
    if request.path.startswith(API_PREFIXES):
        body = {"code": "request_too_large", "message": message}
        return JsonResponse(body, status=413, json_dumps_params={"separators": (",", ":")})
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


def _size(n: int) -> str:
    mb = 1024 * 1024
    return f"{n // mb} MB" if n % mb == 0 else f"{n:,} bytes"


# The pages load scripts and styles from this site only (api/static/, vendored libraries
# included) and run no inline script: data reaches scripts through json_script elements.
# Inline style attributes stay allowed (bar widths and chart sizes are set that way).
PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def page_csp(view):
    """Give a page's answers the Content-Security-Policy above (not the admin's, the API
    docs' or Flower's, which bring inline scripts of their own)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        return response

    return wrapped
