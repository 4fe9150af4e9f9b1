"""A version leaves the platform: its file and its model card (predictor/model_export.py,
predictor/model_card.py). Whoever may see the model may take them: a private model's are a
404 to everyone but its owner and staff."""

import sklearn
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from predictor.model_card import card_markdown, model_card
from predictor.model_export import CONTENT_TYPES, FORMATS, SKOPS, version_file
from predictor.model_files import check

from ..selectors import model_get_or_404, version_get, versions_list
from ..serializers import VERSION_MAX
from .base import ServiceApiView


def _version_or_404(user, name: str, number: int):
    model_get_or_404(user, name)
    version = version_get(name, number) if number <= VERSION_MAX else None
    if version is None:
        raise NotFound(f"{name} has no version {number}; see /api/v1/models/{name}/versions/.")
    return version


class ModelVersionArtifactApi(ServiceApiView):
    @extend_schema(
        operation_id="models_versions_artifact",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=list(FORMATS),
                default=SKOPS,
                description="skops (the default: loads without running code from the file) or "
                "joblib (a pickle: load only what you trust).",
            )
        ],
        responses={
            (200, CONTENT_TYPES[SKOPS]): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The fitted pipeline. Headers: X-Scikit-Learn-Version, X-Content-SHA256 "
                "(of this body), X-Artifact-SHA256 (of the stored artifact).",
            )
        },
    )
    def get(self, request, name: str, number: int):
        """The version's fitted pipeline as a file, to run elsewhere (its card says how)."""
        fmt = request.query_params.get("format", SKOPS)
        if fmt not in FORMATS:
            raise ValidationError({"format": [f"One of {list(FORMATS)}."]})
        exported = version_file(_version_or_404(request.user, name, number), fmt)
        response = HttpResponse(exported.data, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{exported.file_name}"'
        response["X-Scikit-Learn-Version"] = exported.sklearn_version
        response["X-Content-SHA256"] = exported.sha256
        response["X-Artifact-SHA256"] = exported.artifact_sha256
        response["ETag"] = f'"{exported.sha256}"'
        return response


class ModelVersionCardApi(ServiceApiView):
    @extend_schema(
        operation_id="models_versions_card",
        parameters=[
            OpenApiParameter(
                "format", str, enum=["json", "md"], default="json", description="json, or md for Markdown."
            )
        ],
        responses={200: dict, (200, "text/markdown"): str},
    )
    def get(self, request, name: str, number: int):
        """The version's model card: task, features, held-out metrics, lineage, library
        versions, the model's promotion history and how to run the downloaded file."""
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "md"):
            raise ValidationError({"format": ["json or md."]})
        version = _version_or_404(request.user, name, number)
        card = model_card(
            version,
            # The types the skops file a user downloads needs (a joblib artifact is converted).
            trusted=check(
                version_file(version, SKOPS).data,
                sklearn_version=sklearn.__version__,
                extra=settings.MODEL_IMPORT_TRUSTED_TYPES,
            ),
            named_columns=version.source == version.Source.IMPORTED,
            history=versions_list(name),
        )
        if fmt == "md":
            return HttpResponse(card_markdown(card), content_type="text/markdown; charset=utf-8")
        return Response(card)
