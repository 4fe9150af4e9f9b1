"""Rate limits. Counts live in the shared cache (Redis), so every web process sees them;
if Redis is unreachable the limits fail open rather than turning requests into 500s."""

import functools
import logging
import math

from django.shortcuts import render
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _SlidingWindow:
    """DRF's rates ("120/minute") and keys (per user, per address), counted with a sliding
    window counter (two fixed windows, the previous one weighted by how much of it the
    sliding window still covers) instead of DRF's log of every request's time.

    DRF's log is read, trimmed and written back whole on every request: its cost grows with
    the rate (a 6,000/minute limit moved 60 KB of JSON through Redis per request, a sixth of
    the web's CPU under load), and two racing requests can both read the log before either
    writes it, so both get through. Here a request is one round trip (INCR, EXPIRE, GET)
    whatever the rate, and INCR is atomic: a burst gets exactly the budget.
    """

    def allow_request(self, request, view):
        from django.core.cache import cache

        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window, self.elapsed = divmod(self.now, self.duration)
        self.current_key = f"{self.key}:{int(window)}"
        ttl = 2 * int(self.duration) + 1  # the next window still reads this one
        self.count, self.before = cache.window_counts(
            self.current_key, f"{self.key}:{int(window) - 1}", ttl=ttl
        )
        allowed = self._estimate(self.count) <= self.num_requests
        if not allowed:
            cache.window_uncount(self.current_key)
            self.count -= 1
        return allowed

    def _estimate(self, count: int) -> float:
        return self.before * (self.duration - self.elapsed) / self.duration + count

    def remaining(self) -> int:
        return max(self.num_requests - math.ceil(self._estimate(self.count)), 0)

    def wait(self) -> float:
        """Seconds until one more request fits, if no other comes meanwhile."""
        room = self.num_requests - 1 - self.count  # what the current window may still add
        left = self.duration - self.elapsed
        if room >= 0:
            # The previous window's weight shrinks as the sliding window leaves it.
            needed = 0.0 if self.before == 0 else left - room * self.duration / self.before
            return max(needed, 0.0)
        # The current window alone is over: wait until it is the previous one, weighted down.
        return left + self.duration * (1 - (self.num_requests - 1) / self.count)


class _FailOpen:
    def allow_request(self, request, view):
        try:
            allowed = super().allow_request(request, view)
        except Exception as exc:  # the cache backend's connection errors vary by client
            logger.warning("rate limit not applied, cache unavailable: %s", exc)
            return True
        if "count" in vars(self):  # the limit applied to this request and counted it
            # For RateLimitHeadersMiddleware: the budget, what is left of it, and the seconds
            # until a slot frees (when none is left) or the current window ends.
            reset = self.wait() if self.remaining() == 0 else self.duration - self.elapsed
            # A DRF request wraps Django's; a page's request is Django's own.
            getattr(request, "_request", request).rate_limit = (
                self.num_requests,
                self.remaining(),
                min(max(math.ceil(reset), 1), int(self.duration)),
            )
        return allowed


class SubmitRateThrottle(_FailOpen, _SlidingWindow, UserRateThrottle):
    """Prediction submits per user; reads of the history are not limited here."""

    scope = "submit"

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)


class AuthRateThrottle(_FailOpen, _SlidingWindow, AnonRateThrottle):
    """Login, register and token refresh per client address: slows password guessing."""

    scope = "auth"


class PasswordRateThrottle(_FailOpen, _SlidingWindow, UserRateThrottle):
    """Password changes per account, at the login rate: each one checks a guess at the old
    password, so a stolen access token must not allow guessing it quickly. (AuthRateThrottle
    would not count them: an anonymous-rate throttle skips authenticated requests.)"""

    scope = "auth"


def client_address(request) -> str:
    """The client's address as every limit sees it: REMOTE_ADDR, or with NUM_PROXIES set,
    the address the last trusted proxy put in X-Forwarded-For (a client's own entries
    before it are ignored, so forging the header resets nothing)."""
    return BaseThrottle().get_ident(request)


PAGE_MESSAGES = {
    "auth": "Too many attempts from your address.",
    "submit": "Too many predictions in a short time.",
}


def page_throttle(throttle_class):
    """The API's rate limit on a page's POSTs (the same counters: a page is no way around
    it); a refused POST gets a 429 page saying when to try again."""

    def decorate(view):
        @functools.wraps(view)
        def throttled(request, *args, **kwargs):
            if request.method == "POST":
                throttle = throttle_class()
                if not throttle.allow_request(request, None):
                    wait = max(math.ceil(throttle.wait() or 1), 1)
                    context = {"message": PAGE_MESSAGES[throttle.scope], "retry_after_s": wait}
                    response = render(request, "api/throttled.html", context, status=429)
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return throttled

    return decorate
