from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from predictor import history

from ..selectors import BadCursor, prediction_page
from ..serializers import PredictionInputSerializer, PredictionJobSerializer
from ..services import prediction_submit

# A page of history is one MongoDB query; 100 jobs keep a response well under 1 MB.
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100


class PredictionListCreateApi(APIView):
    @extend_schema(request=PredictionInputSerializer, responses={202: PredictionJobSerializer})
    def post(self, request):
        serializer = PredictionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = prediction_submit(
            user=request.user,
            model_name=serializer.validated_data["model"],
            input=serializer.validated_data["input"],
            version=serializer.validated_data.get("version"),
        )
        location = request.build_absolute_uri(reverse("prediction-detail", args=[job.id]))
        return Response(
            PredictionJobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="The `next_cursor` of the previous page."),
            OpenApiParameter("limit", int, description=f"Jobs per page, 1 to {PAGE_SIZE_MAX}."),
        ],
        responses=PredictionJobSerializer(many=True),
    )
    def get(self, request):
        limit = _limit(request.query_params.get("limit"))
        try:
            jobs, next_cursor = prediction_page(
                owner_id=request.user.pk, limit=limit, cursor=request.query_params.get("cursor")
            )
        except BadCursor:
            raise ValidationError({"cursor": ["Not a cursor this API issued."]}) from None
        next_url = None
        if next_cursor:
            query = request.query_params.copy()
            query["cursor"] = next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response(
            {
                "results": PredictionJobSerializer(jobs, many=True).data,
                "next": next_url,
                "next_cursor": next_cursor,
            }
        )


def _limit(raw: str | None) -> int:
    if raw is None:
        return PAGE_SIZE_DEFAULT
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise ValidationError({"limit": [f"Must be an integer from 1 to {PAGE_SIZE_MAX}."]})
    return int(raw)


class PredictionDetailApi(APIView):
    @extend_schema(responses=PredictionJobSerializer)
    def get(self, request, job_id: str):
        # Another user's job is indistinguishable from one that does not exist.
        job = history.job_get(job_id, owner_id=request.user.pk)
        if job is None:
            raise NotFound("No prediction with this id.")
        return Response(PredictionJobSerializer(job).data)
