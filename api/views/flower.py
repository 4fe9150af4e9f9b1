"""Flower for staff, behind the site's own login: `/flower/...` proxied to FLOWER_URL.

Flower answers /metrics and /healthcheck without asking for its password, so it listens
only where this web can reach it (a private unix socket, or an unpublished address on the
containers' network) and every path of it, those two included, goes through this view:
an active staff user's session first, then the request forwarded with Flower's
basic-auth credentials added. Flower 2.2's pages poll its JSON API (no websockets), so
plain request-and-answer proxying is all they need.
"""

import base64
import http.client
import logging
import socket
import ssl

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from myproject.flower import flower_address

logger = logging.getLogger(__name__)

# Flower's inspect calls wait about a second for the workers; a task apply waits longer.
TIMEOUT_S = 30
CHUNK = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Meaningful for one connection only (RFC 9110 7.6.1), never passed on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# What Flower's pages and API read. The site's cookies (its session above all) and a
# client's own Authorization stay here.
FORWARDED_REQUEST_HEADERS = (
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Cache-Control",
    "Content-Type",
    "If-Modified-Since",
    "If-None-Match",
    "Origin",
    "Sec-Fetch-Site",
    "User-Agent",
    "X-Requested-With",
    "X-XSRFToken",
)
# Flower's _xsrf cookie would land on the whole site; its password prompt would invite
# people to type Flower's password, which they never need.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"set-cookie", "www-authenticate"}


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, *, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class StreamedBody:
    """Flower's answer as it arrives; the connection closes when Django closes the response."""

    def __init__(self, connection: http.client.HTTPConnection, upstream: http.client.HTTPResponse):
        self.connection = connection
        self.upstream = upstream

    def __iter__(self):
        while chunk := self.upstream.read1(CHUNK):
            yield chunk

    def close(self):
        self.connection.close()


def _connection(url: str) -> http.client.HTTPConnection:
    address = flower_address(url)
    if address.scheme == "unix":
        return UnixHTTPConnection(address.socket_path, timeout=TIMEOUT_S)
    if address.scheme == "https":
        return http.client.HTTPSConnection(
            address.host, address.port, timeout=TIMEOUT_S, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(address.host, address.port, timeout=TIMEOUT_S)


def _same_origin(request) -> bool:
    """The proxy is exempt from Django's CSRF token check, because Flower's scripts send their own
    token, not Django's; a state-changing request must still come from this site's pages."""
    site = request.headers.get("Sec-Fetch-Site")
    if site:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return origin == f"{request.scheme}://{request.get_host()}" or origin in settings.CSRF_TRUSTED_ORIGINS


def _request_headers(request) -> dict:
    headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
    # The browser's host: Flower compares it with Origin before a state-changing request.
    headers["Host"] = request.get_host()
    if settings.FLOWER_BASIC_AUTH:
        pair = settings.FLOWER_BASIC_AUTH.split(",")[0].strip()
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return headers


def _response_headers(upstream: http.client.HTTPResponse) -> dict:
    listed = ",".join(upstream.headers.get_all("Connection", []))
    connection_named = {name.strip().lower() for name in listed.split(",")}
    headers: dict[str, str] = {}
    for name, value in upstream.getheaders():
        if name.lower() in DROPPED_RESPONSE_HEADERS or name.lower() in connection_named:
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@csrf_exempt
def flower_proxy(request, path: str = ""):
    if not settings.FLOWER_URL:
        raise Http404("Flower is not configured here")
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied("Flower is for staff")
    if request.method not in SAFE_METHODS and not _same_origin(request):
        raise PermissionDenied("cross-site request to Flower")

    connection = _connection(settings.FLOWER_URL)
    try:
        connection.request(
            request.method,
            request.get_full_path_info(),
            body=request.body or None,
            headers=_request_headers(request),
        )
        upstream = connection.getresponse()
    except (OSError, http.client.HTTPException) as error:  # refused, no socket, timeout, reset
        connection.close()
        logger.warning("Flower at %s did not answer: %s", settings.FLOWER_URL, error)
        return HttpResponse("Flower is not answering.", status=502, content_type="text/plain")
    if upstream.status == 401:
        connection.close()
        logger.error("Flower refused the proxy's credentials: FLOWER_BASIC_AUTH differs from Flower's")
        return HttpResponse("Flower refused this site's credentials.", status=502, content_type="text/plain")

    response = StreamingHttpResponse(StreamedBody(connection, upstream), status=upstream.status)
    response.reason_phrase = upstream.reason
    del response["Content-Type"]
    for name, value in _response_headers(upstream).items():
        response[name] = value
    # Staff-only pages: no shared cache may keep them, whatever Flower says of its files.
    patch_cache_control(response, private=True)
    return response
