"""Idempotency keys: the same key and body give the same job, however many requests race."""

from datetime import datetime, timedelta

import mongoengine as me
from pymongo.errors import DuplicateKeyError

from .base import guard, now


class IdempotencyKey(me.Document):
    # "<owner id>:<key>": the primary key makes the race a duplicate-key error, not two jobs.
    id = me.StringField(primary_key=True)
    request_hash = me.StringField(required=True)
    job_id = me.StringField(required=True)
    reserved_at = me.DateTimeField(required=True)
    expires_at = me.DateTimeField(required=True)

    meta = {
        "collection": "idempotency_keys",
        "indexes": [{"fields": ["expires_at"]}],
        "auto_create_index": False,
    }


@guard
def key_claim(
    *, owner_id: int, key: str, request_hash: str, job_id: str, ttl: timedelta
) -> IdempotencyKey | None:
    """Reserve the key for `job_id`. None when reserved now; else the record that holds it."""
    record_id, stamp = f"{owner_id}:{key}", now()
    fresh = {"request_hash": request_hash, "job_id": job_id, "reserved_at": stamp, "expires_at": stamp + ttl}
    collection = IdempotencyKey._get_collection()
    try:
        collection.insert_one({"_id": record_id, **fresh})
        return None
    except DuplicateKeyError:
        pass
    # An expired key may be taken over, by exactly one of the racing requests.
    taken = collection.update_one({"_id": record_id, "expires_at": {"$lt": stamp}}, {"$set": fresh})
    if taken.modified_count:
        return None
    return IdempotencyKey.objects(id=record_id).first()


@guard
def key_takeover(*, owner_id: int, key: str, old_job_id: str, new_job_id: str) -> bool:
    """Point the key at a new job, if it still names `old_job_id` (compare-and-set)."""
    return bool(
        IdempotencyKey.objects(id=f"{owner_id}:{key}", job_id=old_job_id).update_one(set__job_id=new_job_id)
    )


@guard
def key_release(*, owner_id: int, key: str, job_id: str) -> None:
    """Forget a key whose job could not be queued, so a retry with it can succeed."""
    IdempotencyKey.objects(id=f"{owner_id}:{key}", job_id=job_id).delete()


@guard
def keys_purge_expired(before: datetime | None = None) -> int:
    return IdempotencyKey.objects(expires_at__lt=before or now()).delete()
