"""The prediction view: validate the row, queue the task, wait for its result, answer it.

PEER_GET_INTERVAL (seconds) is how often `AsyncResult.get()` looks at the result backend;
unset, the view calls `get()` as written in the guides, with Celery's default (0.5 s).
"""

import os

from celery.exceptions import TimeoutError as ResultTimeout
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .features import FEATURES
from .tasks import predict_task

GET_TIMEOUT_S = 30
GET_OPTIONS = (
    {"interval": float(os.environ["PEER_GET_INTERVAL"])} if os.environ.get("PEER_GET_INTERVAL") else {}
)


class RowSerializer(serializers.Serializer):
    """The 30 features, each a finite number; a missing or unknown one is named in the 400."""

    def get_fields(self):
        return {name: serializers.FloatField() for name in FEATURES}

    def to_internal_value(self, data):
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(FEATURES))):
            raise serializers.ValidationError({name: ["Not a feature of this model."] for name in unknown})
        return super().to_internal_value(data)


class PredictSerializer(serializers.Serializer):
    input = RowSerializer()


class PredictView(APIView):
    """POST {"input": {30 features}} -> 200 {"label", "probabilities"}."""

    def post(self, request):
        serializer = PredictSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = predict_task.delay(serializer.validated_data["input"])
        try:
            prediction = result.get(timeout=GET_TIMEOUT_S, **GET_OPTIONS)
        except ResultTimeout:
            return Response(
                {"detail": f"No prediction within {GET_TIMEOUT_S} s."}, status=status.HTTP_504_GATEWAY_TIMEOUT
            )
        return Response(prediction)
