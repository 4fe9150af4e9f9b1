"""What the batch API takes (a CSV file and how to score it) and shows (a batch job)."""

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from predictor import history, webhooks
from predictor.batches import batch_summary

from .predictions import VERSION_MAX

# The longest key column name taken (the predict page's form checks the same).
KEY_COLUMN_MAX = 200


class BatchSubmitSerializer(serializers.Serializer):
    """The multipart form of POST /api/v1/batches/ (the file itself: api/uploads.py)."""

    model = serializers.CharField(max_length=64)
    file = serializers.FileField(
        help_text="A UTF-8 CSV with a header line naming the model's features (other columns "
        "are allowed and left out), up to BATCH_FILE_MAX_BYTES."
    )
    version = serializers.IntegerField(required=False, min_value=1, max_value=VERSION_MAX)
    key_column = serializers.CharField(
        required=False,
        max_length=KEY_COLUMN_MAX,
        help_text="A column of the file whose value starts each result line (else its line number).",
    )
    webhook = serializers.URLField(
        required=False,
        max_length=2000,
        help_text="Called (POST, signed as a prediction's: Standard Webhooks) with the batch job when "
        "it ends: succeeded, failed or canceled.",
    )

    def validate_webhook(self, url: str) -> str:
        try:
            webhooks.url_check(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        except webhooks.InvalidWebhook as exc:
            raise serializers.ValidationError(str(exc)) from None
        return url


class BatchRowsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Predicted.")
    failed = serializers.IntegerField(help_text="Error lines: rows that could not be predicted.")
    pending = serializers.IntegerField(help_text="In chunks still queued or running.")
    canceled = serializers.IntegerField(help_text="In chunks a cancel or an early stop left unscored.")


class BatchChunksSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()


class BatchUrlsSerializer(serializers.Serializer):
    self = serializers.CharField()
    results = serializers.CharField()
    cancel = serializers.CharField()
    webhooks = serializers.CharField(help_text="Its webhook deliveries.")


class BatchJobSerializer(serializers.Serializer):
    """A batch job, its progress and, for a classifier, its predicted labels' counts."""

    id = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=history.STATUSES)
    error = serializers.CharField(allow_null=True)
    filename = serializers.CharField()
    size_bytes = serializers.IntegerField()
    key_column = serializers.CharField(allow_null=True)
    webhook = serializers.CharField(allow_null=True)
    rows = BatchRowsSerializer()
    chunks = BatchChunksSerializer()
    labels = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    rows_per_second = serializers.FloatField(allow_null=True)
    seconds_left = serializers.FloatField(allow_null=True, help_text="An estimate, while it runs.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    urls = BatchUrlsSerializer()

    def to_representation(self, batch):
        # context["chunks"]: the batches' chunks by batch id (history.chunks_of: one query
        # for a list); else this batch's are read.
        chunks = (self.context.get("chunks") or {}).get(batch.id)
        if chunks is None:
            chunks = history.batch_chunks(batch.id, fields=history.PROGRESS_FIELDS)
        summary = batch_summary(batch, chunks)
        return {
            "id": batch.id,
            "model": batch.model,
            "version": batch.version,
            "status": batch.status,
            "error": batch.error,
            "filename": batch.filename,
            "size_bytes": batch.size_bytes,
            "key_column": batch.key_column,
            "webhook": batch.webhook,
            **summary,
            "created_at": _iso(batch.created_at),
            "started_at": _iso(batch.started_at),
            "completed_at": _iso(batch.completed_at),
            "urls": {
                "self": reverse("batch-detail", args=[batch.id]),
                "results": reverse("batch-results", args=[batch.id]),
                "cancel": reverse("batch-cancel", args=[batch.id]),
                "webhooks": reverse("batch-webhook-deliveries", args=[batch.id]),
            },
        }


def _iso(stamp):
    return None if stamp is None else serializers.DateTimeField().to_representation(stamp)
