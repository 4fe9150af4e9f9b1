from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from predictor.predictions import UnknownVersion

from ..errors import ErrorSerializer
from ..parsers import CSVTextParser, JSONParser
from ..selectors import NO_SUCH_MODEL, model_detail, model_get_or_404, model_list, versions_list
from ..serializers import VERSION_MAX, ModelSerializer, ModelVersionSerializer, SamplesInputSerializer
from ..services import samples_add, version_promote_by, version_rollback_by
from .base import ServiceApiView


class ModelListApi(ServiceApiView):
    @extend_schema(
        operation_id="models_list",
        responses=inline_serializer("ModelList", {"results": ModelSerializer(many=True)}),
    )
    def get(self, request):
        return Response({"results": ModelSerializer(model_list(), many=True).data})


class ModelDetailApi(ServiceApiView):
    @extend_schema(responses=ModelSerializer)
    def get(self, request, name: str):
        model = model_detail(name)
        if model is None:
            raise NotFound(NO_SUCH_MODEL)
        return Response(ModelSerializer(model).data)


class ModelVersionListApi(ServiceApiView):
    @extend_schema(
        operation_id="models_versions_list",
        responses=inline_serializer("ModelVersionList", {"results": ModelVersionSerializer(many=True)}),
    )
    def get(self, request, name: str):
        model_get_or_404(name)
        return Response({"results": ModelVersionSerializer(versions_list(name), many=True).data})


class ModelVersionPromoteApi(ServiceApiView):
    """Make this version the champion (staff); the current champion is archived."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request, name: str, number: int):
        model_get_or_404(name)
        try:
            if number > VERSION_MAX:
                raise UnknownVersion(number)
            version = version_promote_by(user=request.user, model_name=name, number=number)
        except UnknownVersion:
            # In the path, an unknown version is a 404 (in a submit's body it is a 400).
            raise NotFound(f"{name} has no version {number}; see /api/v1/models/{name}/versions/.") from None
        return Response(ModelVersionSerializer(version).data)


class ModelRollbackApi(ServiceApiView):
    """Return to the version that was champion before the current one (staff)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=None,
        responses={
            200: ModelVersionSerializer,
            409: OpenApiResponse(ErrorSerializer, description="No earlier champion to roll back to."),
        },
    )
    def post(self, request, name: str):
        model_get_or_404(name)
        return Response(ModelVersionSerializer(version_rollback_by(user=request.user, model_name=name)).data)


class ModelSamplesApi(ServiceApiView):
    """Upload labelled rows (staff): JSON {"rows": [{feature: value, ..., "label": ...}]} or
    CSV with a header of feature names and `label`. All rows are stored, or none."""

    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser, CSVTextParser]

    @extend_schema(request=SamplesInputSerializer, responses={201: dict})
    def post(self, request, name: str):
        model_get_or_404(name)
        if isinstance(request.data, str):
            result = samples_add(user=request.user, model_name=name, csv_text=request.data)
        else:
            serializer = SamplesInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            rows = serializer.validated_data["rows"]
            result = samples_add(user=request.user, model_name=name, rows=rows)
        return Response(result, status=status.HTTP_201_CREATED)
