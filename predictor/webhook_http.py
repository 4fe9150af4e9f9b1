"""Webhook HTTP, safe against server-side request forgery: a URL is checked (scheme, host,
every address it resolves to public unless private ones are allowed), the connection is
pinned to the checked addresses, and the whole POST, DNS included, ends by one deadline.
(Signing and delivery are predictor/webhooks.py.)"""

import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from urllib.parse import SplitResult, urlsplit

# NAT64 prefixes reach IPv4 through a translator, so they can reach any internal IPv4.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class InvalidWebhook(Exception):
    """A webhook URL that may not be called: not http(s), a bad port, no such host, or an
    address that is not public."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return _public(str(ip.ipv4_mapped))
        if any(ip in network for network in _NAT64):
            return False
        # 6to4 and Teredo carry an IPv4 address a relay may forward to.
        embedded = [ip.sixtofour, *(ip.teredo or ())]
        if any(v4 is not None and not _public(str(v4)) for v4 in embedded):
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def _resolver_new() -> ThreadPoolExecutor:
    # getaddrinfo cannot be interrupted, so it runs here and the caller stops waiting at its
    # deadline. A lookup abandoned at a deadline keeps its thread until the system resolver
    # gives up; one that answers frees it at once, so this is sized for hanging lookups, not
    # for the notifier's threads.
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="webhook-dns")


_resolver = _resolver_new()


def _resolver_reset() -> None:
    global _resolver
    _resolver = _resolver_new()


# A forked child (prefork workers, web server workers) inherits the pool without its threads.
os.register_at_fork(after_in_child=_resolver_reset)


def _parts(url: str) -> SplitResult:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise InvalidWebhook("The URL's port is not valid.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook("Must be an http:// or https:// URL with a host.")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _targets(parts: SplitResult, *, allow_private: bool, deadline: float) -> list[tuple]:
    """Resolve the host once: [(family, sockaddr)], every address checked unless private
    ones are allowed. Raises TimeoutError past the deadline."""
    future = _resolver.submit(socket.getaddrinfo, parts.hostname, _port(parts), type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except (socket.gaierror, UnicodeError):
        raise InvalidWebhook(f"The host {parts.hostname!r} does not resolve.") from None
    except TimeoutError:
        future.cancel()
        raise
    targets = list(dict.fromkeys((info[0], info[4]) for info in infos))
    if not targets:
        raise InvalidWebhook(f"The host {parts.hostname!r} does not resolve.")
    if not allow_private and not all(_public(sockaddr[0]) for _, sockaddr in targets):
        raise InvalidWebhook("Private, loopback and link-local addresses are not allowed.")
    return targets


def url_check(url: str, *, allow_private: bool, timeout_s: float = 10.0) -> str:
    """Refuse anything but http(s) to a public address (unless private ones are allowed).

    Checked when a job is submitted; each delivery checks again the very addresses it
    connects to, so a name that later resolves to an internal address is still refused.
    """
    parts = _parts(url)
    if allow_private:
        return url
    try:
        _targets(parts, allow_private=False, deadline=time.monotonic() + timeout_s)
    except TimeoutError:
        raise InvalidWebhook(f"The host {parts.hostname!r} did not resolve in {timeout_s:g} s.") from None
    return url


def post(url: str, body: bytes, headers: dict, *, allow_private: bool, timeout_s: float) -> int:
    """POST and return the status code, all within `timeout_s` from the first DNS query to the
    last header line. Redirects are not followed: they could lead to an unchecked address."""
    parts = _parts(url)
    deadline = time.monotonic() + timeout_s
    watchdog = _Watchdog(deadline)
    stage = "resolving the host"
    try:
        targets = _targets(parts, allow_private=allow_private, deadline=deadline)
        pinned = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        # The port given explicitly: http.client would read the end of an IPv6 literal as one.
        connection = pinned(
            parts.hostname, _port(parts), targets=targets, deadline=deadline, watchdog=watchdog
        )
        try:
            stage = "connecting"
            connection.connect()
            stage = "sending"
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path, body=body, headers=headers)
            stage = "waiting for the answer"
            status = connection.getresponse().status  # the body is never read
            if watchdog.fired:  # a status line cut short at the deadline may still parse
                raise TimeoutError
            return status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        # Every socket timeout is set to the time left, so any timeout is the deadline's.
        if watchdog.fired or isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
            raise TimeoutError(f"exceeded the {timeout_s:g} s deadline while {stage}") from exc
        raise
    finally:
        watchdog.stop()


class _Watchdog:
    """Shuts the connection down at the deadline. Socket timeouts bound each read, not the
    total: a receiver sending a byte every few seconds would hold a delivery thread forever,
    and the threads pool ignores Celery's time limits."""

    def __init__(self, deadline: float):
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
            # A duplicate: wrap_socket detaches the original, and shutdown() acts on the
            # connection whichever descriptor it is called through.
            self._sock = sock.dup()
            if self.fired:
                self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the addresses resolved (and checked) once, never to a new lookup of the
    name, which could answer differently (DNS rebinding). Host still names the URL's host."""

    def __init__(self, host: str, port: int, *, targets: list, deadline: float, watchdog: _Watchdog):
        super().__init__(host, port)
        self._targets, self._deadline, self._watchdog = targets, deadline, watchdog

    def connect(self) -> None:
        error: OSError = TimeoutError()
        for family, sockaddr in self._targets:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(remaining)
                self._watchdog.watch(sock)
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self.sock = sock
            return
        raise error


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # verifies the chain and the hostname


class _PinnedHTTPS(_PinnedHTTP):
    default_port = 443

    def connect(self) -> None:
        super().connect()
        # SNI and the certificate check use the URL's hostname, not the pinned address.
        self.sock = _tls_context().wrap_socket(self.sock, server_hostname=self.host)
