"""`GET /metrics`: the platform's Prometheus metrics (myproject/metrics.py), for a scraper.

Not a page and not part of the API (it is in no OpenAPI schema): a plain Django view. It
needs `Authorization: Bearer <METRICS_TOKEN>`, compared in constant time; without a
METRICS_TOKEN it does not exist (404), so a deployment that never set one shows nothing.
"""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe
from prometheus_client.exposition import choose_encoder

from myproject import metrics


def _authorized(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@require_safe
def metrics_view(request):
    if not settings.METRICS_TOKEN:
        raise Http404("metrics are not served here")
    if not _authorized(request):
        response = HttpResponse(
            "A bearer token (METRICS_TOKEN) is required.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encoder(metrics.web_registry()), content_type=content_type)
    patch_cache_control(response, no_store=True)
    return response
