"""The caller's prediction history: filters, cursor pages, and a streamed CSV export."""

import csv
import json

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from predictor import history

from ..errors import ErrorSerializer
from ..selectors import BadCursor, cursor_decode, cursor_encode
from ..serializers import VERSION_MAX, PredictionJobSerializer

# A page of history is one MongoDB query; 100 jobs keep a response well under 1 MB.
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100
# The export reads in pages of this many jobs, so memory stays flat however long it is.
EXPORT_CHUNK = 500
CSV_COLUMNS = ["id", "model", "version", "status", "created_at", "started_at", "completed_at",
               "queue_s", "predict_s", "total_s", "input", "output", "error"]  # fmt: skip


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


PREDICTION_LIST_SCHEMA = {
    "operation_id": "predictions_list",
    "parameters": [HistoryFilterSerializer],
    "responses": {
        200: HistoryPageSerializer,
        (200, "text/csv"): OpenApiTypes.STR,
        400: ErrorSerializer,
    },
    "description": "Your jobs, newest first. `?format=csv` streams every matching job as CSV.",
}


def prediction_list(request):
    # A plain dict, not the QueryDict: DRF reads a blank form value as "absent", but the
    # schema says `?status=` is invalid, so it gets the same 400 as any other bad value.
    params = HistoryFilterSerializer(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    options = dict(params.validated_data)
    limit, cursor, output = options.pop("limit"), options.pop("cursor", None), options.pop("format")
    query = history.jobs_query(owner_id=request.user.pk, **options)
    if output == "csv":
        return csv_response(query)
    try:
        before = cursor_decode(cursor) if cursor else None
    except BadCursor:
        raise ValidationError({"cursor": ["Not a cursor this API issued."]}) from None
    jobs = history.jobs_page(query, limit=limit + 1, before=before)
    next_cursor = cursor_encode(jobs[limit - 1]) if len(jobs) > limit else None
    next_url = None
    if next_cursor:
        query_params = request.query_params.copy()
        query_params["cursor"] = next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query_params.urlencode()}")
    return Response(
        {
            "results": PredictionJobSerializer(jobs[:limit], many=True).data,
            "next": next_url,
            "next_cursor": next_cursor,
        }
    )


class _Echo:
    def write(self, value):
        return value


def _csv_rows(query):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    before = None
    while jobs := history.jobs_page(query, limit=EXPORT_CHUNK, before=before):
        for job in jobs:
            data = PredictionJobSerializer(job).data
            metrics = data["metrics"]
            yield writer.writerow(
                [data["id"], data["model"], data["version"], data["status"], data["created_at"],
                 data["started_at"], data["completed_at"], metrics["queue_s"], metrics["predict_s"],
                 metrics["total_s"], json.dumps(data["inputs"] if job.is_batch else data["input"]),
                 json.dumps(data["output"]), data["error"] or ""]
            )  # fmt: skip
        before = (jobs[-1].created_at, jobs[-1].id)


def csv_response(query) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_rows(query), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="predictions.csv"'
    return response
