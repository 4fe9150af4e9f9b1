"""Failed-login lockout (django-axes): every login (the API's token endpoints, the login
page, the admin's) counts its failures per username; past LOGIN_FAILURE_LIMIT the
username is locked for LOGIN_LOCKOUT_MINUTES, whatever the address the guesses come from.
Per-address rates are api/throttles.py's AuthRateThrottle."""

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.shortcuts import render
from rest_framework import exceptions


class LockoutBackend(AxesStandaloneBackend):
    """Axes' backend, for logins over HTTP only: `authenticate()` called without a request
    (a management command, a script on the server) is not a guess from outside and is left
    to the next backend, where axes would raise."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def retry_after_s(request) -> int:
    cool_off = get_cool_off(request)
    return max(math.ceil(cool_off.total_seconds()), 1) if cool_off else 60


MESSAGE = "Too many failed logins for this username: it is locked for a while. Try again later."


class LoginLocked(exceptions.Throttled):
    default_detail = MESSAGE
    default_code = "login_locked"

    def __init__(self, wait: int):
        super().__init__(wait=wait, detail=MESSAGE)


def lockout_response(request, original_response=None, credentials=None):
    """The login page's and the admin's answer to a locked username (AxesMiddleware calls it;
    the API's token views raise LoginLocked instead, in the API's error shape)."""
    wait = retry_after_s(request)
    response = render(
        request, "registration/locked_out.html", {"retry_after_min": math.ceil(wait / 60)}, status=429
    )
    response["Retry-After"] = str(wait)
    return response
