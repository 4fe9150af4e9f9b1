"""Shared parts of the MongoDB history: connection, the outage guard, timestamps."""

import functools
from datetime import UTC, datetime

import mongoengine as me
from django.conf import settings
from pymongo import monitoring
from pymongo.errors import ConnectionFailure, OperationFailure
from pymongo.uri_parser import parse_uri

from myproject import metrics

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
FINISHED = (SUCCEEDED, FAILED, CANCELED)


class HistoryUnavailable(Exception):
    """MongoDB could not be reached in time."""


class _CommandsCounted(monitoring.CommandListener):
    """Every command the client sends, counted by name (myproject/metrics.py's
    platform_mongodb_commands): the history's round trips."""

    def started(self, event) -> None:
        metrics.mongodb_command(event.command_name)

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


_COMMANDS_COUNTED = _CommandsCounted()


def connect() -> None:
    me.disconnect()
    uri = parse_uri(settings.MONGODB_URI)
    me.connect(
        db=uri.get("database") or "predictions",
        host=settings.MONGODB_URI,
        connect=False,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.MONGODB_TIMEOUT_MS,
        connectTimeoutMS=settings.MONGODB_TIMEOUT_MS,
        # Every write is answered once it is in the server's journal on disk (j: true), so
        # what was acknowledged (an accepted job, a finish, a cancel) is kept whatever
        # happens to the server next. Acknowledged at w:1 alone, the last writes before
        # SecantusDB's disk filled were gone after its restart (tests/test_mongo_durability.py).
        # Its cost: bench/RESULTS.md, "The cost of `j: true`". A URI's `journal` decides.
        journal=uri["options"].get("journal", True),
        event_listeners=[_COMMANDS_COUNTED],
    )


_UNAUTHORIZED, _AUTHENTICATION_FAILED = 13, 18  # the server's error codes
# Codes with which the server says that it cannot do the work now, whatever the request:
# its storage failed, or it refuses writes for want of disk space. SecantusDB answers every
# data command with 1 InternalError once its disk has filled (WiredTiger could not write its
# journal, and stays so until a restart: tests/chaos/test_mongo_faults.py); mongod answers
# its storage engine's failures with 8 UnknownError, and a disk it finds too full with
# 14031 OutOfDiskSpace. Like a server that is down, they are the platform's outage, not
# the client's mistake, and a later try can succeed.
_SERVER_FAILED = {1: "InternalError", 8: "UnknownError", 14031: "OutOfDiskSpace"}


def _failure_codes(exc: OperationFailure) -> set[int]:
    """The error's code, and those of its write errors: an insert's or a bulk write's
    refusal may come per document (WriteError, BulkWriteError) rather than for the command."""
    codes = {exc.code} if exc.code is not None else set()
    details = exc.details if isinstance(exc.details, dict) else {}
    codes.update(error.get("code") for error in details.get("writeErrors") or () if isinstance(error, dict))
    return codes


def guard(func):
    """Turn an unreachable MongoDB, one refusing the platform's login, or one whose storage
    failed (a full disk) into HistoryUnavailable (the API answers 503, tasks retry)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConnectionFailure as exc:
            raise HistoryUnavailable(str(exc)) from exc
        except OperationFailure as exc:
            codes = _failure_codes(exc)
            # Wrong credentials, or a user without the role: as unusable as a server that is
            # down, and the cause is in the server's configuration, not the request.
            if codes & {_UNAUTHORIZED, _AUTHENTICATION_FAILED}:
                raise HistoryUnavailable(f"MongoDB refused the platform's user: {exc}") from exc
            failed = sorted(code for code in codes if code in _SERVER_FAILED)
            if failed:
                names = ", ".join(f"{code} {_SERVER_FAILED[code]}" for code in failed)
                raise HistoryUnavailable(f"MongoDB could not do the work ({names}): {exc}") from exc
            raise

    return wrapper


def whole_ms(stamp: datetime) -> datetime:
    """`stamp` cut to whole milliseconds, the grain MongoDB keeps."""
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def now() -> datetime:
    # Trimmed to what MongoDB keeps, so that what we return equals what we store.
    return whole_ms(datetime.now(UTC))


@guard
def outbox_handed(document, item_id: str) -> None:
    """The end's webhook of a job or a batch (`document`'s) is published: out of the outbox."""
    document._get_collection().update_one({"_id": item_id}, {"$unset": {"webhook_unsent": ""}})


def outbox_waiting(document, *, ended_before: datetime, limit: int, projection=None):
    """The documents that ended before `ended_before` with their end's webhook never published."""
    return document._get_collection().find(
        {"webhook_unsent": True, "completed_at": {"$lt": ended_before}}, projection, limit=limit
    )


def requeue_stale(document, *, cutoff: datetime, running_cutoff: datetime, limit: int) -> list[str]:
    """Mark and return the ids of jobs or training runs (`document`) to publish again:
    queued since before `cutoff` (never published, or lost with Redis's data), or running
    since before `running_cutoff` (past the hard time limit: the worker died), and not
    re-queued since. A duplicate delivery is harmless: only one run can finish its item.

    Only items still stale when marked are marked and returned: one a worker claimed between
    the look and the mark keeps its claim. Marked after it started, it would look orphaned
    (requeued_at after started_at: predictor/history/claims.py) and the message published
    again would run it a second time beside its first run (tests/workers/test_sweeper.py)."""

    def not_requeued_since(stamp):
        return me.Q(requeued_at=None) | me.Q(requeued_at__lt=stamp)

    stale = (me.Q(status=QUEUED, created_at__lt=cutoff) & not_requeued_since(cutoff)) | (
        me.Q(status=RUNNING, started_at__lt=running_cutoff) & not_requeued_since(running_cutoff)
    )
    ids = _stale_ids(document, stale, limit)
    if not ids:
        return []
    return _mark_requeued(document, ids, document.objects(stale)._query)


def _mark_requeued(document, ids: list[str], still: dict) -> list[str]:
    """Mark those of `ids` that match `still` as re-queued now; return the ids marked."""
    items, stamp = document._get_collection(), now()
    # `_id` first: SecantusDB looks a filter up by its first indexed clause.
    items.update_many({"_id": {"$in": ids}, **still}, {"$set": {"requeued_at": stamp}})
    return [doc["_id"] for doc in items.find({"_id": {"$in": ids}, "requeued_at": stamp}, {"_id": 1})]


def _stale_ids(document, stale, limit: int) -> list[str]:
    return [item.id for item in document.objects(stale).only("id").limit(limit)]


@guard
def queued_before(document, cutoff: datetime, *, limit: int) -> list[str]:
    """The ids of jobs or training runs (`document`) queued since before `cutoff`."""
    return _stale_ids(document, me.Q(status=QUEUED, created_at__lt=cutoff), limit)


@guard
def requeue_queued(document, ids: list[str]) -> list[str]:
    """Mark those of `ids` still queued as re-queued now (as requeue_stale does) and return
    them: their messages are published again."""
    if not ids:
        return []
    return _mark_requeued(document, ids, {"status": QUEUED})


@guard
def workers_running(document) -> set[str]:
    """The Celery nodes recorded as running some job or training run (`document`) now."""
    return {node for node in document._get_collection().distinct("worker", {"status": RUNNING}) if node}


@guard
def orphans_mark(
    document,
    worker: str,
    held: list[str],
    *,
    started_before: float | None = None,
    live_pids: list[int] | None = None,
    pids_seen_at: float | None = None,
) -> list[str]:
    """No live process of `worker` holds these jobs or training runs (`document`): those it is
    recorded as running and the ones it had taken from the queue (`held`) and not started.
    For a worker still alive (epoch seconds): only those it started before `started_before`
    (an earlier run of a node that restarted), or before `pids_seen_at` in a process not
    among its `live_pids` then. Marks them orphaned (`requeued_at` after `started_at`), so
    that any delivery may claim them; returns their ids, to publish again."""
    items, stamp = document._get_collection(), now()

    def orphaned(doc) -> bool:
        if doc.get("requeued_at") and doc["requeued_at"] > doc["started_at"]:
            return False  # already orphaned and published again, not yet claimed: once is enough
        if started_before is None:
            return True  # the worker is gone
        started = doc["started_at"].replace(tzinfo=UTC).timestamp()
        if started < started_before:
            return True
        return live_pids is not None and started < pids_seen_at and doc.get("worker_pid") not in live_pids

    found = items.find(
        {"status": RUNNING, "worker": worker}, {"started_at": 1, "requeued_at": 1, "worker_pid": 1}
    )
    running = [doc["_id"] for doc in found if orphaned(doc)]
    waiting = (
        [doc["_id"] for doc in items.find({"_id": {"$in": held}, "status": QUEUED}, {"_id": 1})]
        if held
        else []
    )
    if running:
        items.update_many(
            {"_id": {"$in": running}, "status": RUNNING, "worker": worker}, {"$set": {"requeued_at": stamp}}
        )
    if waiting:
        items.update_many({"_id": {"$in": waiting}, "status": QUEUED}, {"$set": {"requeued_at": stamp}})
    return running + waiting
