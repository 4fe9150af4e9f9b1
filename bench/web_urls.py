"""The platform's URLs plus the web floor: what any authenticated API call costs here."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from myproject.urls import urlpatterns as platform


class FloorApi(APIView):
    """gunicorn, Django's middleware, DRF, the JWT check with its user lookup, the JSON body
    parsed and a small JSON answer, with the platform's settings: nothing of the platform's
    own (no validation, no throttle, no MongoDB, no queue). A submit cannot cost less."""

    def post(self, request):
        return Response({"keys": len(request.data)})


urlpatterns = [path("bench/floor/", FloorApi.as_view()), *platform]  # bench/load.py: FLOOR
