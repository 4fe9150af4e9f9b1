"""The true label of a finished prediction, for the next retraining."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from ..errors import ErrorSerializer
from ..selectors import job_get_owned
from ..serializers import FeedbackInputSerializer
from ..services import feedback_give
from .base import ServiceApiView


class PredictionFeedbackApi(ServiceApiView):
    """The true label (or value) of a finished prediction; the next retraining learns from it."""

    @extend_schema(
        request=FeedbackInputSerializer,
        responses={
            201: dict,
            429: OpenApiResponse(
                ErrorSerializer, description="The daily feedback quota (FEEDBACK_DAILY_QUOTA) is used up."
            ),
        },
    )
    def post(self, request, job_id: str):
        job = job_get_owned(request.user, job_id)
        serializer = FeedbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sample = feedback_give(user=request.user, job=job, label=data["label"], index=data.get("index"))
        return Response(sample, status=status.HTTP_201_CREATED)
