"""Rate limits. Counts live in the shared cache (Redis), so every web process sees them;
if Redis is unreachable the limits fail open rather than turning requests into 500s."""

import logging

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's connection errors vary by client
            logger.warning("rate limit not applied, cache unavailable: %s", exc)
            return True


class SubmitRateThrottle(_FailOpen, UserRateThrottle):
    """Prediction submits per user; reads of the history are not limited here."""

    scope = "submit"

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)


class AuthRateThrottle(_FailOpen, AnonRateThrottle):
    """Login, register and token refresh per client address: slows password guessing."""

    scope = "auth"
