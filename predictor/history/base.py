"""Shared parts of the MongoDB history: connection, the outage guard, timestamps."""

import functools
from datetime import UTC, datetime

import mongoengine as me
from django.conf import settings
from pymongo.errors import ConnectionFailure, OperationFailure
from pymongo.uri_parser import parse_uri

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
FINISHED = (SUCCEEDED, FAILED, CANCELED)


class HistoryUnavailable(Exception):
    """MongoDB could not be reached in time."""


def connect() -> None:
    me.disconnect()
    database = parse_uri(settings.MONGODB_URI).get("database") or "predictions"
    me.connect(
        db=database,
        host=settings.MONGODB_URI,
        connect=False,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.MONGODB_TIMEOUT_MS,
        connectTimeoutMS=settings.MONGODB_TIMEOUT_MS,
    )


_UNAUTHORIZED, _AUTHENTICATION_FAILED = 13, 18  # the server's error codes


def guard(func):
    """Turn an unreachable MongoDB, or one refusing the platform's login, into
    HistoryUnavailable (the API answers 503)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConnectionFailure as exc:
            raise HistoryUnavailable(str(exc)) from exc
        except OperationFailure as exc:
            # Wrong credentials, or a user without the role: as unusable as a server that is
            # down, and the cause is in the server's configuration, not the request.
            if exc.code not in (_UNAUTHORIZED, _AUTHENTICATION_FAILED):
                raise
            raise HistoryUnavailable(f"MongoDB refused the platform's user: {exc}") from exc

    return wrapper


@guard
def ping() -> None:
    """Raise HistoryUnavailable unless MongoDB answers within the time budget."""
    me.get_db().command("ping")


def now() -> datetime:
    # MongoDB keeps milliseconds; trimming here keeps what we return equal to what we store.
    stamp = datetime.now(UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


@guard
def requeue_stale(document, *, cutoff: datetime, running_cutoff: datetime, limit: int) -> list[str]:
    """Mark and return the ids of jobs or training runs (`document`) to publish again:
    queued since before `cutoff` (never published, or lost with Redis's data), or running
    since before `running_cutoff` (past the hard time limit: the worker died), and not
    re-queued since. A duplicate delivery is harmless: only one run can finish its item."""

    def not_requeued_since(stamp):
        return me.Q(requeued_at=None) | me.Q(requeued_at__lt=stamp)

    stale = (me.Q(status=QUEUED, created_at__lt=cutoff) & not_requeued_since(cutoff)) | (
        me.Q(status=RUNNING, started_at__lt=running_cutoff) & not_requeued_since(running_cutoff)
    )
    ids = [item.id for item in document.objects(stale).only("id").limit(limit)]
    if ids:
        document.objects(id__in=ids).update(set__requeued_at=now())
    return ids
