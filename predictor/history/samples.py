"""Labelled samples: rows with their true label, added to a model's training data."""

import uuid
from datetime import datetime

import mongoengine as me

from .base import guard, now


class LabelledSample(me.Document):
    """A row with its true label (or value), added to the model's training data."""

    model = me.StringField(required=True)
    features = me.DictField(required=True)
    label = me.DynamicField(required=True)
    source = me.StringField(choices=("upload", "feedback"), required=True)
    batch_id = me.StringField(required=True)
    job_id = me.StringField(null=True)
    row = me.IntField(null=True)
    created_by = me.IntField(null=True)
    created_at = me.DateTimeField(required=True)

    meta = {
        "collection": "labelled_samples",
        "indexes": [
            {"fields": ["model", "created_at"]},
            {"fields": ["batch_id"]},
            {"fields": ["job_id", "row"]},
            # Counting a user's recent feedback against their quota.
            {"fields": ["created_by", "source", "created_at"]},
        ],
        "auto_create_index": False,
    }


@guard
def samples_add(
    *,
    model: str,
    rows: list[tuple[dict, object]],
    source: str,
    created_by: int | None,
    job_id: str | None = None,
) -> str:
    """Store every row or none: a failure half-way removes the rows already written."""
    batch_id, stamp = str(uuid.uuid4()), now()
    documents = [
        LabelledSample(
            model=model,
            features=features,
            label=label,
            source=source,
            batch_id=batch_id,
            job_id=job_id,
            created_by=created_by,
            created_at=stamp,
        )
        for features, label in rows
    ]
    try:
        LabelledSample.objects.insert(documents, load_bulk=False)
    except Exception:
        LabelledSample.objects(batch_id=batch_id).delete()
        raise
    return batch_id


@guard
def samples_delete(*, model: str) -> int:
    """Every labelled sample of a model (it is being deleted); how many."""
    return LabelledSample.objects(model=model).delete()


@guard
def samples_for(model: str) -> list[LabelledSample]:
    return list(LabelledSample.objects(model=model).order_by("created_at"))


@guard
def sample_upsert(*, model: str, features: dict, label, job_id: str, row: int, created_by: int) -> None:
    """Feedback on one row of a job: inserted once, replaced when sent again."""
    LabelledSample.objects(job_id=job_id, row=row).update_one(
        upsert=True,
        set__model=model,
        set__features=features,
        set__label=label,
        set__source="feedback",
        set__created_by=created_by,
        set_on_insert__batch_id=f"feedback:{job_id}",
        set_on_insert__created_at=now(),
    )


@guard
def sample_label(*, job_id: str, row: int):
    """The true label given for a job's row, or None."""
    sample = LabelledSample.objects(job_id=job_id, row=row).only("label").first()
    return sample.label if sample else None


@guard
def sample_exists(*, job_id: str, row: int) -> bool:
    return LabelledSample.objects(job_id=job_id, row=row).only("id").first() is not None


@guard
def samples_count_since(*, created_by: int, source: str, since) -> tuple[int, datetime | None]:
    """How many samples the user added from `source` since then, and when the oldest was."""
    query = LabelledSample.objects(created_by=created_by, source=source, created_at__gte=since)
    oldest = query.order_by("created_at").only("created_at").first()
    return query.count(), oldest.created_at if oldest else None
