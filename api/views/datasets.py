from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from ..errors import ErrorSerializer
from ..exports import dataset_csv_response
from ..parsers import MultiPartParser
from ..permissions import CanBuildModels
from ..selectors import (
    dataset_changeable_or_404,
    dataset_get_or_404,
    dataset_version_or_404,
    datasets_list,
)
from ..serializers import DatasetSerializer, DatasetSummarySerializer, DatasetUploadSerializer
from ..services import dataset_create, dataset_remove
from .base import ServiceApiView


class DatasetListCreateApi(ServiceApiView):
    parser_classes = [MultiPartParser]

    def get_permissions(self):
        return [IsAuthenticated(), CanBuildModels()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={
            201: DatasetSerializer,
            413: OpenApiResponse(ErrorSerializer, description="Over DATASET_MAX_BYTES, _ROWS or _COLUMNS."),
        },
    )
    def post(self, request):
        """Upload a CSV: a new dataset, or the next version of yours of that name."""
        serializer = DatasetUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = dataset_create(user=request.user, **serializer.validated_data)
        return Response(DatasetSerializer(version.dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="datasets_list",
        responses=inline_serializer("DatasetList", {"results": DatasetSummarySerializer(many=True)}),
    )
    def get(self, request):
        """Your datasets and the shared ones."""
        return Response({"results": DatasetSummarySerializer(datasets_list(request.user), many=True).data})


class DatasetDetailApi(ServiceApiView):
    error_codes = {"delete": ("403",)}

    @extend_schema(responses=DatasetSerializer)
    def get(self, request, name: str):
        """The dataset with every version's column profile and preview."""
        return Response(DatasetSerializer(dataset_get_or_404(request.user, name)).data)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(ErrorSerializer, description="Models learned from it; they are named."),
        }
    )
    def delete(self, request, name: str):
        """Delete the dataset (its owner, staff) unless a model learned from it."""
        dataset_remove(dataset=dataset_changeable_or_404(request.user, name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetDownloadApi(ServiceApiView):
    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request, name: str, number: int):
        """The version as CSV; a cell a spreadsheet could take for a formula is written as text."""
        dataset = dataset_get_or_404(request.user, name)
        return dataset_csv_response(dataset_version_or_404(dataset, number))
