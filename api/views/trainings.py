from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from ..selectors import model_changeable_or_404, training_get, trainings_list
from ..serializers import TrainingInputSerializer, TrainingRunSerializer
from ..services import training_submit
from .base import ServiceApiView


class TrainingListCreateApi(ServiceApiView):
    """Training runs of the models the caller may change (their own; staff: all)."""

    error_codes = {"post": ("403", "404")}

    @extend_schema(
        request=TrainingInputSerializer,
        responses={202: TrainingRunSerializer},
        examples=[
            OpenApiExample("Retrain", value={"model": "iris"}, request_only=True),
            OpenApiExample(
                "With parameters", value={"model": "diabetes", "params": {"alpha": 0.5}}, request_only=True
            ),
        ],
    )
    def post(self, request):
        serializer = TrainingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model_changeable_or_404(request.user, serializer.validated_data["model"])
        run = training_submit(
            user=request.user,
            model_name=serializer.validated_data["model"],
            params=serializer.validated_data["params"],
        )
        location = request.build_absolute_uri(reverse("training-detail", args=[run.id]))
        return Response(
            TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )

    @extend_schema(
        operation_id="trainings_list",
        responses=inline_serializer("TrainingRunList", {"results": TrainingRunSerializer(many=True)}),
    )
    def get(self, request):
        runs = trainings_list(request.user, model=request.query_params.get("model"))
        return Response({"results": TrainingRunSerializer(runs, many=True).data})


class TrainingDetailApi(ServiceApiView):
    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request, run_id: str):
        run = training_get(request.user, run_id)
        if run is None:
            raise NotFound("No training run with this id.")
        return Response(TrainingRunSerializer(run).data)
