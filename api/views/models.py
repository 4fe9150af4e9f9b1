from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors import model_detail, model_list
from ..serializers import ModelSerializer


class ModelListApi(APIView):
    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request):
        return Response({"results": ModelSerializer(model_list(), many=True).data})


class ModelDetailApi(APIView):
    @extend_schema(responses=ModelSerializer)
    def get(self, request, name: str):
        model = model_detail(name)
        if model is None:
            raise NotFound("No model with this name.")
        return Response(ModelSerializer(model).data)
