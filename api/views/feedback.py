from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from predictor import history, webhooks
from predictor.samples import feedback_record

from ..errors import ErrorSerializer
from ..serializers import FeedbackInputSerializer, WebhookSecretSerializer
from .base import ServiceApiView


class PredictionFeedbackApi(ServiceApiView):
    """The true label (or value) of a finished prediction; the next retraining learns from it."""

    @extend_schema(
        request=FeedbackInputSerializer,
        responses={
            201: dict,
            400: ErrorSerializer,
            404: ErrorSerializer,
            429: OpenApiResponse(
                ErrorSerializer, description="The daily feedback quota (FEEDBACK_DAILY_QUOTA) is used up."
            ),
        },
    )
    def post(self, request, job_id: str):
        job = history.job_get(job_id, owner_id=request.user.pk)
        if job is None:
            raise NotFound("No prediction with this id.")
        serializer = FeedbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sample = feedback_record(
            job=job, label=data["label"], index=data.get("index"), given_by=request.user.pk
        )
        return Response(sample, status=status.HTTP_201_CREATED)


class WebhookSecretApi(ServiceApiView):
    """Your signing secret: verify each delivery's `webhook-signature` with it."""

    @extend_schema(responses=WebhookSecretSerializer)
    def get(self, request):
        return Response({"key": webhooks.secret_for(request.user.pk)})


class WebhookDeliverySerializer(serializers.Serializer):
    event = serializers.CharField()
    url = serializers.CharField()
    message_id = serializers.CharField()
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    duration_s = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()


class PredictionWebhookDeliveriesApi(ServiceApiView):
    """Every webhook delivery attempt for one of your predictions, oldest first."""

    @extend_schema(
        operation_id="predictions_webhook_deliveries",
        responses={
            200: inline_serializer("WebhookDeliveryList", {"results": WebhookDeliverySerializer(many=True)}),
            404: ErrorSerializer,
        },
    )
    def get(self, request, job_id: str):
        if history.job_get(job_id, owner_id=request.user.pk) is None:
            raise NotFound("No prediction with this id.")
        deliveries = history.deliveries_for(job_id)
        return Response({"results": WebhookDeliverySerializer(deliveries, many=True).data})
