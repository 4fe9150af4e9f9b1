import hashlib
import json
import logging

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from predictor import history

from ..errors import ErrorSerializer
from ..exports import csv_response
from ..headers import IDEMPOTENCY_KEY_MAX_LENGTH, parse_cancel_after, parse_idempotency_key
from ..selectors import NO_SUCH_JOB, BadCursor, job_get_owned, jobs_filtered, jobs_page
from ..serializers import (
    HistoryFilterSerializer,
    HistoryPageSerializer,
    PredictionInputSerializer,
    PredictionJobSerializer,
)
from ..services import prediction_cancel, prediction_submit
from ..throttles import SubmitRateThrottle
from ..waiting import Waiting, prefer_wait_seconds
from .base import ServiceApiView

logger = logging.getLogger(__name__)

SUBMIT_HEADERS = [
    OpenApiParameter(
        "Idempotency-Key",
        {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH},
        OpenApiParameter.HEADER,
        description="Same key and body within 24 h: the same job, never a second one. "
        f"Same key, other body: 422. At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
    ),
    OpenApiParameter(
        "Prefer",
        str,
        OpenApiParameter.HEADER,
        description="`wait=N` (N <= 60): hold the request until the job finishes or N s pass; "
        "200 with the finished job, else 202.",
    ),
    OpenApiParameter(
        "Cancel-After",
        str,
        OpenApiParameter.HEADER,
        description="Deadline after which an unfinished job is canceled: `90`, `30s`, `5m`, `1h`.",
    ),
]
ERRORS = {
    422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused with another body."),
}


# Bodies that work against a fresh `make up` (its iris and diabetes models), for the docs'
# "Try it out" and for clients and fuzzers reading the schema.
IRIS_ROWS = [
    {"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2},
    {"sepal_length_cm": 6.3, "sepal_width_cm": 3.3, "petal_length_cm": 6.0, "petal_width_cm": 2.5},
]
SUBMIT_EXAMPLES = [
    OpenApiExample("One row", value={"model": "iris", "input": IRIS_ROWS[0]}, request_only=True),
    OpenApiExample(
        "A batch on a pinned version, with a webhook",
        value={
            "model": "iris",
            "version": 1,
            "inputs": IRIS_ROWS,
            "webhook": "https://example.com/hooks/predictions",
            "webhook_events_filter": ["completed"],
        },
        request_only=True,
    ),
]


def request_hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---------------------------------------------------------------- the list (history)

PREDICTION_LIST_SCHEMA = {
    "operation_id": "predictions_list",
    "parameters": [HistoryFilterSerializer],
    "responses": {
        200: HistoryPageSerializer,
        (200, "text/csv"): OpenApiTypes.STR,
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
    query = jobs_filtered(request.user, **options)
    if output == "csv":
        return csv_response(query)
    try:
        jobs, next_cursor = jobs_page(query, limit=limit, cursor=cursor)
    except BadCursor:
        raise ValidationError({"cursor": ["Not a cursor this API issued."]}) from None
    next_url = None
    if next_cursor:
        query_params = request.query_params.copy()
        query_params["cursor"] = next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query_params.urlencode()}")
    return Response(
        {
            "results": PredictionJobSerializer(jobs, many=True).data,
            "next": next_url,
            "next_cursor": next_cursor,
        }
    )


class PredictionListCreateApi(ServiceApiView):
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(**PREDICTION_LIST_SCHEMA)
    def get(self, request):
        return prediction_list(request)

    @extend_schema(
        operation_id="predictions_create",
        request=PredictionInputSerializer,
        parameters=SUBMIT_HEADERS,
        examples=SUBMIT_EXAMPLES,
        responses={200: PredictionJobSerializer, 202: PredictionJobSerializer, **ERRORS},
    )
    def post(self, request):
        serializer = PredictionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # Every header is judged before anything is written: a bad one leaves no job behind.
        cancel_after = parse_cancel_after(request.headers.get("Cancel-After"), data.get("cancel_after"))
        key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
        waiting = Waiting(prefer_wait_seconds(request.headers.get("Prefer")))
        try:
            job, created = prediction_submit(
                user=request.user,
                model_name=data["model"],
                input=data.get("input"),
                inputs=data.get("inputs"),
                version=data.get("version"),
                cancel_after=cancel_after,
                webhook=data.get("webhook"),
                webhook_events_filter=data.get("webhook_events_filter"),
                idempotency_key=key,
                request_hash=request_hash(request.data) if key else "",
                on_created=waiting.watch,
            )
        except Exception:
            waiting.close()
            raise
        try:
            job = waiting.wait(job)
        except history.HistoryUnavailable as exc:
            # The job is written and queued: it was accepted, however MongoDB is now. Its
            # answer says so (202, where to poll); a 503 would have the client submit it again.
            logger.warning("job %s: answered as queued, its wait could not read it: %s", job.id, exc)
        finished = job.status in history.FINISHED
        headers = {"Location": request.build_absolute_uri(reverse("prediction-detail", args=[job.id]))}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            PredictionJobSerializer(job).data,
            status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED,
            headers=headers,
        )


class PredictionDetailApi(ServiceApiView):
    @extend_schema(responses=PredictionJobSerializer)
    def get(self, request, job_id: str):
        return Response(PredictionJobSerializer(job_get_owned(request.user, job_id)).data)


class PredictionCancelApi(ServiceApiView):
    @extend_schema(request=None, responses=PredictionJobSerializer)
    def post(self, request, job_id: str):
        """Cancel a queued or running job; a finished job is returned unchanged."""
        job = prediction_cancel(user=request.user, job_id=job_id)
        if job is None:
            raise NotFound(NO_SUCH_JOB)
        return Response(PredictionJobSerializer(job).data)
