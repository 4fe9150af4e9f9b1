"""Webhook delivery attempts: one document per attempt, for the user and for debugging."""

import mongoengine as me

from .base import guard, now


class WebhookDelivery(me.Document):
    job_id = me.StringField(required=True)
    owner_id = me.IntField(required=True)
    event = me.StringField(required=True)
    url = me.StringField(required=True)
    message_id = me.StringField(required=True)
    attempt = me.IntField(required=True)
    status_code = me.IntField(null=True)
    error = me.StringField(null=True)
    duration_s = me.FloatField(null=True)
    created_at = me.DateTimeField(required=True)

    meta = {
        "collection": "webhook_deliveries",
        "indexes": [{"fields": ["job_id", "created_at"]}],
        "auto_create_index": False,
    }


@guard
def delivery_log(**fields) -> WebhookDelivery:
    return WebhookDelivery(created_at=now(), **fields).save(force_insert=True)


@guard
def deliveries_for(job_id: str) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects(job_id=job_id).order_by("created_at"))
