"""Webhooks: where a user may be called back, and how each call is signed.

Signatures follow the Standard Webhooks scheme (also Replicate's): HMAC-SHA256 over
"{webhook-id}.{webhook-timestamp}.{body}" with the user's secret, sent as
`webhook-signature: v1,<base64>`.
"""

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import secrets
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from urllib.parse import SplitResult, urlsplit

from myproject import metrics

from . import history

EVENTS = ("start", "completed")
SECRET_PREFIX = "whsec_"
# NAT64 prefixes reach IPv4 through a translator, so they can reach any internal IPv4.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class InvalidWebhook(Exception):
    """A webhook URL that may not be called: not http(s), a bad port, no such host, or an
    address that is not public."""


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


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


def secret_for(user_id: int) -> str:
    from .models import WebhookSecret

    record, _ = WebhookSecret.objects.get_or_create(user_id=user_id, defaults={"secret": secret_new()})
    return record.secret


def _job_body_missing(job):
    raise RuntimeError("no webhook body: the api app sets it when Django starts (api/apps.py)")


# The body of a delivery is the job as its owner sees it through the API. That shape is
# the API's (api/jobs.py), and this module sits below the API: the api app hands the
# function over when Django starts, in every process that sends webhooks.
_job_body = _job_body_missing


def job_body_set(render) -> None:
    global _job_body
    _job_body = render


class DeliveryFailed(Exception):
    """The endpoint did not answer 2xx; the caller retries with backoff."""


class ReceiverSlow(Exception):
    """The receiver is known to be slow and every slow-lane slot is taken: deliver later,
    without using up an attempt (nothing was sent)."""


class Lanes:
    """Keeps receivers that do not answer from holding the threads that answering ones need.

    Kept per notifier process. An origin (scheme, host and port) is slow when its last
    delivery ran out of time (for `slow_for_s`, or until it answers again), or while one of
    its deliveries has waited longer than `slow_after_s` for an answer. A delivery to a slow
    origin needs one of `slots` slow-lane slots and is deferred (ReceiverSlow) when none is
    free. So at most `slots` threads wait on receivers known to be slow; the rest of the pool
    only ever waits on a first delivery to a receiver not yet known to be slow, one per
    receiver (README.md, "Webhooks": how many such receivers the pool absorbs).
    """

    def __init__(self, *, slots: int, slow_after_s: float, slow_for_s: float):
        self.slots, self.slow_after_s, self.slow_for_s = slots, slow_after_s, slow_for_s
        self._lock = threading.Lock()
        self._slow_taken = 0
        self._slow_until: dict[str, float] = {}
        self._in_flight: dict[str, list[float]] = {}  # origin -> when each delivery started

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"

    def enter(self, url: str) -> tuple[str, float, bool]:
        """Take a place for one delivery to `url` (give it back with leave()), or raise
        ReceiverSlow."""
        origin, now = self.origin(url), time.monotonic()
        with self._lock:
            slow = self._slow_until.get(origin, 0.0) > now or any(
                now - started > self.slow_after_s for started in self._in_flight.get(origin, ())
            )
            if slow:
                if self._slow_taken >= self.slots:
                    raise ReceiverSlow(f"{origin} is slow to answer and every slow-lane slot is taken")
                self._slow_taken += 1
            self._in_flight.setdefault(origin, []).append(now)
        return origin, now, slow

    def leave(self, ticket: tuple[str, float, bool], *, timed_out: bool) -> None:
        origin, started, slow = ticket
        with self._lock:
            if slow:
                self._slow_taken -= 1
            flights = self._in_flight[origin]
            flights.remove(started)
            if not flights:
                del self._in_flight[origin]
            if timed_out:
                self._slow_until[origin] = time.monotonic() + self.slow_for_s
                if len(self._slow_until) > 10_000:  # forget the origins whose time is up
                    now = time.monotonic()
                    self._slow_until = {key: until for key, until in self._slow_until.items() if until > now}
            else:
                self._slow_until.pop(origin, None)  # it answered (whatever it said): not slow


def _log_fields(job, event: str, attempt: int) -> dict:
    """What every delivery log record of this attempt says (history.delivery_log)."""
    return {
        "job_id": job.id,
        "owner_id": job.owner_id,
        "event": event,
        "url": job.webhook,
        # The same on every retry, so receivers can de-duplicate.
        "message_id": f"msg_{job.id}_{event}",
        "attempt": attempt,
    }


def deliver_given_up(job_id: str, event: str, *, attempt: int, reason: str) -> None:
    """Record in the job's delivery log that this delivery will not be sent, and why (its
    receiver stayed slow through every deferral): the owner sees the end of the story."""
    job = history.job_get(job_id)
    if job is not None and job.webhook:
        history.delivery_log(**_log_fields(job, event, attempt), error=reason)


def deliver(
    job_id: str,
    event: str,
    *,
    attempt: int,
    allow_private: bool,
    timeout_s: float,
    lanes: Lanes | None = None,
    before_sending=None,
) -> int | None:
    """POST the job to its webhook if `event` is in its filter; log the attempt.

    Returns the status code (None when nothing was to be sent); raises DeliveryFailed on a
    non-2xx answer, a network error or the `timeout_s` deadline, so the task can retry, and
    ReceiverSlow when `lanes` defers it. `before_sending` is called once the database reads
    are done, before the network wait (the notifier gives back its database connection).
    """
    job = history.job_get(job_id)
    if job is None or not job.webhook or event not in (job.webhook_events_filter or EVENTS):
        return None
    body = json.dumps(_job_body(job), separators=(",", ":")).encode()
    log = _log_fields(job, event, attempt)
    message_id = log["message_id"]
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "prediction-platform-webhooks/1",
        "Connection": "close",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret_for(job.owner_id), message_id=message_id, timestamp=timestamp, body=body
        ),
    }
    if before_sending is not None:
        before_sending()
    ticket = lanes.enter(job.webhook) if lanes is not None else None  # may raise ReceiverSlow
    started, timed_out = time.monotonic(), False
    try:
        code = _post(job.webhook, body, headers, allow_private=allow_private, timeout_s=timeout_s)
    except (OSError, http.client.HTTPException, InvalidWebhook) as exc:
        timed_out = isinstance(exc, TimeoutError)
        metrics.webhook_attempted(event, _failure_outcome(exc))
        error = str(exc) or type(exc).__name__
        history.delivery_log(**log, error=error, duration_s=round(time.monotonic() - started, 3))
        raise DeliveryFailed(error) from exc
    finally:
        if ticket is not None:
            lanes.leave(ticket, timed_out=timed_out)
    metrics.webhook_attempted(event, "delivered" if 200 <= code < 300 else "http_error")
    history.delivery_log(**log, status_code=code, duration_s=round(time.monotonic() - started, 3))
    if not 200 <= code < 300:
        raise DeliveryFailed(f"{job.webhook} answered {code}")
    return code


def _failure_outcome(exc: Exception) -> str:
    # _post turns every way of running out of time into a TimeoutError (an OSError too).
    if isinstance(exc, InvalidWebhook):
        return "refused"
    return "timeout" if isinstance(exc, TimeoutError) else "network_error"


def _post(url: str, body: bytes, headers: dict, *, allow_private: bool, timeout_s: float) -> int:
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
