from rest_framework.views import APIView


class ServiceApiView(APIView):
    """A view over MongoDB or Redis: the schema documents its 503 while either is down."""

    needs_services = True
