"""One JSON shape for every API error: {"code", "message", "fields"?}.

Domain exceptions from predictor and the services map to HTTP here, so views stay short.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from predictor.datasets import DatasetInUse
from predictor.definitions import UnknownModel
from predictor.errors import FieldErrors
from predictor.history import HistoryUnavailable
from predictor.model_files import ModelFileRefused
from predictor.predictions import UnknownVersion
from predictor.registry import RegistryError
from predictor.samples import FeedbackQuotaExceeded
from predictor.tabular import CSVTooLarge

from .services import IdempotencyConflict, IdempotencyInFlight, QueueUnavailable

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 5


class ErrorSerializer(serializers.Serializer):
    """Every error the API returns has this shape."""

    code = serializers.CharField(help_text="Machine-readable, e.g. invalid, not_found, throttled.")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Per field, e.g. {"input.mean_radius": ["This feature is required."]}.',
    )
    retry_after_s = serializers.IntegerField(required=False)


class TokenNotValid(exceptions.APIException):
    """A refresh token sent in a body that is not one (simplejwt's own 401s are for credentials)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "token_not_valid"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class UnprocessableIdempotency(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class QuotaExceeded(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "quota_exceeded"
    wait: int | None = None  # seconds; DRF's handler turns it into Retry-After


class TooLarge(exceptions.APIException):
    """A 413 that names the field and the limit (an uploaded table over a dataset limit, a
    model file over MODEL_IMPORT_MAX_BYTES or unpacking to more than model_files allows)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__(next(iter(fields.values()))[0])
        self.fields = fields


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"input.mean_radius": ["..."]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        return {prefix or "non_field_errors": [str(item) for item in detail]}
    if isinstance(detail, list):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(_flatten(value, f"{prefix}[{index}]"))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def _domain_to_api(exc):
    if isinstance(exc, Http404):
        # A selector's "no such object" (api/selectors.py), with its message.
        return exceptions.NotFound(*exc.args)
    if isinstance(exc, PermissionDenied):
        # A selector's "not yours to change" (api/selectors.py): the pages answer it too.
        return exceptions.PermissionDenied(*exc.args)
    if isinstance(exc, FeedbackQuotaExceeded):
        quota = QuotaExceeded(exc.errors["label"][0])
        quota.wait = exc.retry_after_s
        return quota
    if isinstance(exc, CSVTooLarge) or (isinstance(exc, ModelFileRefused) and exc.code == "too_large"):
        return TooLarge(exc.errors)
    if isinstance(exc, DatasetInUse):
        return Conflict(f"Models learned from this dataset: {', '.join(exc.users)}; delete them first.")
    if isinstance(exc, FieldErrors):  # bad input, bad training parameters, refused feedback
        return exceptions.ValidationError(exc.errors)
    if isinstance(exc, UnknownVersion):
        return exceptions.ValidationError({"version": [f"{exc}; see /api/v1/models/<name>/versions/."]})
    if isinstance(exc, IdempotencyConflict):
        return UnprocessableIdempotency(str(exc))
    if isinstance(exc, IdempotencyInFlight):
        return Conflict(str(exc))
    if isinstance(exc, RegistryError):
        return Conflict(str(exc))
    if isinstance(exc, UnknownModel):
        return exceptions.ValidationError({"model": [f"Unknown model {exc}; see /api/v1/models/."]})
    if isinstance(exc, HistoryUnavailable):
        logger.error("MongoDB unavailable: %s", exc)
        return ServiceUnavailable("The prediction history (MongoDB) is unavailable; nothing was queued.")
    if isinstance(exc, QueueUnavailable):
        logger.error("broker unavailable: %s", exc)
        return ServiceUnavailable("The task queue (Redis) is unavailable; nothing was queued.")
    return exc


def exception_handler(exc, context):
    exc = _domain_to_api(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": "The request is invalid.", "fields": _flatten(exc.detail)}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        if isinstance(detail, dict):
            # simplejwt's token errors: {"detail": ..., "code": ..., "messages": [...]}
            code = str(detail.get("code", code))
            detail = detail.get("detail", detail)
        body = {"code": str(code), "message": str(detail)}
        if isinstance(exc, TooLarge):
            body["fields"] = exc.fields
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = str(RETRY_AFTER_S)
    if isinstance(exc, exceptions.Throttled | QuotaExceeded) and exc.wait is not None:
        body["retry_after_s"] = int(exc.wait + 0.999)
    return Response(body, status=response.status_code, headers=dict(response.items()))


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([AllowAny])
@schema(None)
def unknown_route(request):
    raise exceptions.NotFound("No such API endpoint; see /api/v1/docs/.")
