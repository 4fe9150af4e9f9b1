"""Predictions: what a submit takes, a job's shape, the history's filters and pages, feedback
and webhooks."""

from django.conf import settings
from rest_framework import serializers

from predictor import history, webhooks

from ..fields import RowsField, TextField
from ..jobs import job_public

# Version numbers count up from 1; the bound keeps a fuzzed 10**30 a 400, not an overflow
# in SQLite or BSON.
VERSION_MAX = 2**31 - 1


class PredictionInputSerializer(serializers.Serializer):
    """One row (`input`) or a batch (`inputs`), for a model and optionally a pinned version."""

    model = TextField(max_length=64)
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=VERSION_MAX, help_text="Pin a version; default: the champion."
    )
    input = serializers.DictField(required=False, help_text="One row: {feature: number}.")
    inputs = RowsField(required=False, help_text="A batch of rows, run as one job.")
    webhook = serializers.URLField(
        required=False, max_length=2000, help_text="Called (signed) as the job progresses."
    )
    webhook_events_filter = serializers.MultipleChoiceField(
        choices=webhooks.EVENTS, required=False, help_text="Which events call the webhook; default all."
    )
    cancel_after = TextField(required=False, help_text="As the Cancel-After header.")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            extra = sorted(set(data) - set(self.fields))
            if extra:
                raise serializers.ValidationError({name: ["Unknown field."] for name in extra})
        return super().to_internal_value(data)

    def validate(self, attrs):
        if ("input" in attrs) == ("inputs" in attrs):
            raise serializers.ValidationError(
                {"input": ["Send exactly one of `input` (a row) or `inputs` (a batch)."]}
            )
        if "webhook" in attrs:
            try:
                webhooks.url_check(attrs["webhook"], allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
            except webhooks.InvalidWebhook as exc:
                raise serializers.ValidationError({"webhook": [str(exc)]}) from None
        if "webhook_events_filter" in attrs:
            attrs["webhook_events_filter"] = sorted(attrs["webhook_events_filter"])
        elif "webhook" in attrs:
            attrs["webhook_events_filter"] = list(webhooks.EVENTS)
        return attrs


class JobMetricsSerializer(serializers.Serializer):
    queue_s = serializers.FloatField(allow_null=True, help_text="Seconds from submit to start.")
    predict_s = serializers.FloatField(allow_null=True, help_text="Seconds running.")
    total_s = serializers.FloatField(allow_null=True, help_text="Seconds from submit to finish.")
    worker = serializers.CharField(
        allow_null=True, help_text="The Celery worker that ran it (its node name: queue@host)."
    )


class JobUrlsSerializer(serializers.Serializer):
    get = serializers.CharField(help_text="This job (absolute when PUBLIC_BASE_URL is set).")
    cancel = serializers.CharField()
    feedback = serializers.CharField()
    webhooks = serializers.CharField(help_text="Its webhook deliveries.")
    web = serializers.CharField(help_text="Its page, for people.")


class PredictionJobSerializer(serializers.Serializer):
    """The schema of api/jobs.py `job_public`, for the OpenAPI document; the answers are
    that function's own (one shape for the API, the pages and webhook bodies).
    tests/api/test_openapi.py checks real answers against it."""

    id = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=history.STATUSES)
    input = serializers.DictField(allow_null=True)
    inputs = serializers.ListField(child=serializers.DictField(), allow_null=True)
    output = serializers.JSONField(
        allow_null=True, help_text="An object for `input`, a list (one per row) for `inputs`."
    )
    error = serializers.CharField(allow_null=True)
    cancel_after = serializers.DateTimeField(allow_null=True)
    webhook = serializers.CharField(allow_null=True)
    webhook_events_filter = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    attempts = serializers.IntegerField()
    metrics = JobMetricsSerializer()
    urls = JobUrlsSerializer()

    def to_representation(self, job):
        return job_public(job)


# A page of history is one MongoDB query; 100 jobs keep a response well under 1 MB.
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100


class HistoryFilterSerializer(serializers.Serializer):
    model = serializers.CharField(required=False, max_length=64)
    version = serializers.IntegerField(required=False, min_value=1, max_value=VERSION_MAX)
    status = serializers.ChoiceField(choices=history.STATUSES, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601.")
    created_before = serializers.DateTimeField(required=False, help_text="Exclusive, ISO 8601.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=PAGE_SIZE_DEFAULT
    )
    cursor = serializers.CharField(required=False, help_text="`next_cursor` of the previous page.")
    format = serializers.ChoiceField(choices=["json", "csv"], required=False, default="json")


class HistoryPageSerializer(serializers.Serializer):
    results = PredictionJobSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    next_cursor = serializers.CharField(allow_null=True)


class FeedbackInputSerializer(serializers.Serializer):
    label = serializers.JSONField(help_text="The true class (a classifier) or value (a regressor).")
    index = serializers.IntegerField(required=False, min_value=0, help_text="The row, for a batch job.")


class WebhookSecretSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Verify `webhook-signature` with it (Standard Webhooks).")


class WebhookDeliverySerializer(serializers.Serializer):
    event = serializers.CharField()
    url = serializers.CharField()
    message_id = serializers.CharField()
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    duration_s = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
