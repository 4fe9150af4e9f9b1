"""Rate limits. Counts live in the shared cache (Redis), so every web process sees them;
if Redis is unreachable the limits fail open rather than turning requests into 500s."""

import logging
import math

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

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
            request._request.rate_limit = (
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
