"""Rate limits. Counts live in the shared cache (Redis), so every web process sees them;
if Redis is unreachable the limits fail open rather than turning requests into 500s."""

import functools
import logging
import math

from django.shortcuts import render
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request, view):
        try:
            allowed = super().allow_request(request, view)
        except Exception as exc:  # the cache backend's connection errors vary by client
            logger.warning("rate limit not applied, cache unavailable: %s", exc)
            return True
        if "history" in vars(self):  # the limit applied to this request and counted it
            # For RateLimitHeadersMiddleware: the budget, what is left of it, and the
            # seconds until the oldest counted request leaves the window (a slot frees).
            oldest = self.history[-1] if self.history else self.now
            # A DRF request wraps Django's; a page's request is Django's own.
            getattr(request, "_request", request).rate_limit = (
                self.num_requests,
                max(self.num_requests - len(self.history), 0),
                math.ceil(self.duration - (self.now - oldest)),
            )
        return allowed


class SubmitRateThrottle(_FailOpen, UserRateThrottle):
    """Prediction submits per user; reads of the history are not limited here."""

    scope = "submit"

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)


class AuthRateThrottle(_FailOpen, AnonRateThrottle):
    """Login, register and token refresh per client address: slows password guessing."""

    scope = "auth"


class PasswordRateThrottle(_FailOpen, UserRateThrottle):
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
