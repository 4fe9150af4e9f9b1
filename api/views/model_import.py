"""A model trained elsewhere, as a new version of a model (predictor/imports.py): the file is
checked here, evaluated and judged by a training worker."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from ..errors import ErrorSerializer
from ..parsers import MultiPartParser
from ..selectors import model_changeable_or_404
from ..serializers import TrainingRunSerializer
from ..services import version_import
from .models import ModelVersionListApi


class VersionImportSerializer(serializers.Serializer):
    artifact = serializers.FileField(
        help_text="A fitted scikit-learn Pipeline or estimator saved with skops "
        '(`skops.io.dump(model, "model.skops")`), fitted on a pandas DataFrame whose columns are '
        "the model's dataset's. Never a pickle."
    )


class ModelVersionsApi(ModelVersionListApi):
    """The model's versions (GET, api/views/models.py), and a new one imported from a file (POST)."""

    parser_classes = [MultiPartParser]
    error_codes = {"post": ("403",)}

    @extend_schema(
        operation_id="models_versions_import",
        request={"multipart/form-data": VersionImportSerializer},
        responses={
            202: TrainingRunSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="Not a skops file (a pickle is refused), a type the platform does not "
                "trust (named), or another scikit-learn version.",
            ),
            413: OpenApiResponse(ErrorSerializer, description="Over MODEL_IMPORT_MAX_BYTES."),
        },
    )
    def post(self, request, name: str):
        """Import a model file as a new version (its owner, staff): a training worker scores it
        on the model's held-out rows and the promotion gate decides (202; follow Location)."""
        model = model_changeable_or_404(request.user, name)
        serializer = VersionImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = version_import(user=request.user, model=model, file=serializer.validated_data["artifact"])
        location = request.build_absolute_uri(reverse("training-detail", args=[run.id]))
        return Response(
            TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )
