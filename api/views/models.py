from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from predictor.estimators import ranges
from predictor.predictions import UnknownVersion

from ..errors import ErrorSerializer
from ..parsers import CSVTextParser, JSONParser, MultiPartParser
from ..permissions import CanBuildModels
from ..selectors import (
    NO_SUCH_MODEL,
    dataset_get_or_404,
    model_changeable_or_404,
    model_detail,
    model_get_or_404,
    model_list,
    versions_list,
)
from ..serializers import (
    VERSION_MAX,
    ModelCreateSerializer,
    ModelImportCreateSerializer,
    ModelSerializer,
    ModelVersionSerializer,
    SamplesInputSerializer,
    TrainingRunSerializer,
)
from ..services import (
    model_create,
    model_delete,
    model_import_create,
    samples_add,
    version_promote_by,
    version_rollback_by,
)
from .base import ServiceApiView


class ModelListApi(ServiceApiView):
    error_codes = {"post": ("404",)}  # the dataset named in the body
    parser_classes = [JSONParser, MultiPartParser]

    def get_permissions(self):
        return [IsAuthenticated(), CanBuildModels()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(
        operation_id="models_list",
        responses=inline_serializer("ModelList", {"results": ModelSerializer(many=True)}),
    )
    def get(self, request):
        """Your models and the shared ones, each with its serving version."""
        return Response({"results": ModelSerializer(model_list(request.user), many=True).data})

    @extend_schema(
        request={
            "application/json": ModelCreateSerializer,
            "multipart/form-data": ModelImportCreateSerializer,
        },
        responses={
            202: inline_serializer(
                "ModelCreated",
                {
                    "model": ModelSerializer(),
                    "notes": serializers.ListField(child=serializers.CharField()),
                    "training": TrainingRunSerializer(),
                },
            )
        },
        examples=[
            OpenApiExample(
                "From a CSV",
                value={"name": "churn", "dataset": "customers", "target": "churned"},
                request_only=True,
            ),
            OpenApiExample(
                "Chosen estimator",
                value={
                    "name": "churn-forest",
                    "dataset": "customers",
                    "target": "churned",
                    "estimator": "random_forest",
                    "params": {"n_estimators": 300},
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        """Define a model on a dataset and queue its first training (202; follow Location).
        As multipart with an `artifact` (a skops file), the model's first version is that file
        instead: checked here, scored and registered by a training worker."""
        imported = "artifact" in request.FILES or request.content_type.startswith("multipart/")
        serializer = (ModelImportCreateSerializer if imported else ModelCreateSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        dataset = dataset_get_or_404(request.user, data.pop("dataset"))
        create = model_import_create if imported else model_create
        model, notes, run = create(
            user=request.user, dataset=dataset, dataset_version=data.pop("dataset_version", None), **data
        )
        location = request.build_absolute_uri(reverse("training-detail", args=[run.id]))
        body = {
            "model": ModelSerializer(model_detail(request.user, model.name)).data,
            "notes": notes,
            "training": TrainingRunSerializer(run).data,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


class ModelDetailApi(ServiceApiView):
    error_codes = {"delete": ("403",)}

    @extend_schema(responses=ModelSerializer)
    def get(self, request, name: str):
        model = model_detail(request.user, name)
        if model is None:
            raise NotFound(NO_SUCH_MODEL)
        return Response(ModelSerializer(model).data)

    @extend_schema(responses={204: None})
    def delete(self, request, name: str):
        """Delete the model, its versions and its samples (its owner, staff)."""
        model_delete(model=model_changeable_or_404(request.user, name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EstimatorListApi(ServiceApiView):
    needs_services = False

    @extend_schema(operation_id="estimators_list", responses=dict)
    def get(self, request):
        """The estimators a model may use, per task, with their defaults and parameter ranges."""
        return Response({"results": ranges()})


class ModelVersionListApi(ServiceApiView):
    @extend_schema(
        operation_id="models_versions_list",
        responses=inline_serializer("ModelVersionList", {"results": ModelVersionSerializer(many=True)}),
    )
    def get(self, request, name: str):
        model_get_or_404(request.user, name)
        return Response({"results": ModelVersionSerializer(versions_list(name), many=True).data})


class ModelVersionPromoteApi(ServiceApiView):
    """Make this version the champion (its owner, staff); the current champion is archived."""

    error_codes = {"post": ("403",)}

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request, name: str, number: int):
        model_changeable_or_404(request.user, name)
        try:
            if number > VERSION_MAX:
                raise UnknownVersion(number)
            version = version_promote_by(user=request.user, model_name=name, number=number)
        except UnknownVersion:
            # In the path, an unknown version is a 404 (in a submit's body it is a 400).
            raise NotFound(f"{name} has no version {number}; see /api/v1/models/{name}/versions/.") from None
        return Response(ModelVersionSerializer(version).data)


class ModelRollbackApi(ServiceApiView):
    """Return to the version that was champion before the current one (its owner, staff)."""

    error_codes = {"post": ("403",)}

    @extend_schema(
        request=None,
        responses={
            200: ModelVersionSerializer,
            409: OpenApiResponse(ErrorSerializer, description="No earlier champion to roll back to."),
        },
    )
    def post(self, request, name: str):
        model_changeable_or_404(request.user, name)
        return Response(ModelVersionSerializer(version_rollback_by(user=request.user, model_name=name)).data)


class ModelSamplesApi(ServiceApiView):
    """Upload labelled rows (the model's owner, staff): JSON {"rows": [{feature: value, ...,
    "label": ...}]} or CSV with a header of feature names and `label`. All rows are stored,
    or none."""

    error_codes = {"post": ("403",)}
    parser_classes = [JSONParser, CSVTextParser]

    @extend_schema(request=SamplesInputSerializer, responses={201: dict})
    def post(self, request, name: str):
        model_changeable_or_404(request.user, name)
        if isinstance(request.data, str):
            result = samples_add(user=request.user, model_name=name, csv_text=request.data)
        else:
            serializer = SamplesInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            rows = serializer.validated_data["rows"]
            result = samples_add(user=request.user, model_name=name, rows=rows)
        return Response(result, status=status.HTTP_201_CREATED)
