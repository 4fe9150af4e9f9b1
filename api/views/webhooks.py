"""Webhooks seen from the API: your signing secret, and each job's delivery log."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.response import Response

from predictor import history

from ..selectors import job_deliveries, job_get_owned
from ..serializers import WebhookDeliverySerializer, WebhookSecretSerializer
from ..services import webhook_secret_get
from .base import ServiceApiView
from .batches import batch_owned_or_404


class WebhookSecretApi(ServiceApiView):
    """Your signing secret: verify each delivery's `webhook-signature` with it."""

    @extend_schema(responses=WebhookSecretSerializer)
    def get(self, request):
        return Response({"key": webhook_secret_get(user=request.user)})


class PredictionWebhookDeliveriesApi(ServiceApiView):
    """Every webhook delivery attempt for one of your predictions, oldest first."""

    @extend_schema(
        operation_id="predictions_webhook_deliveries",
        responses={
            200: inline_serializer("WebhookDeliveryList", {"results": WebhookDeliverySerializer(many=True)}),
        },
    )
    def get(self, request, job_id: str):
        deliveries = job_deliveries(job_get_owned(request.user, job_id))
        return Response({"results": WebhookDeliverySerializer(deliveries, many=True).data})


class BatchWebhookDeliveriesApi(ServiceApiView):
    """Every webhook delivery attempt for one of your batch jobs, oldest first."""

    @extend_schema(
        operation_id="batches_webhook_deliveries",
        responses={
            200: inline_serializer(
                "BatchWebhookDeliveryList", {"results": WebhookDeliverySerializer(many=True)}
            ),
        },
    )
    def get(self, request, batch_id):
        batch = batch_owned_or_404(request, str(batch_id))
        deliveries = history.deliveries_for(batch.id)
        return Response({"results": WebhookDeliverySerializer(deliveries, many=True).data})
