"""Health for load balancers and orchestrators: no token, no rate limit, no request body.

`/healthz` (liveness): the web process answers; it touches nothing else, so a dependency
outage never gets the web process restarted. `/readyz` (readiness): the SQL database,
Redis and MongoDB each answer within their time budgets (checked side by side, so the
whole check takes at most one budget, about two seconds); `503` with `Retry-After`
otherwise, naming which one failed (but not why: the endpoint is public).
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from predictor import history
from workers.events import redis_client

from ..errors import RETRY_AFTER_S

logger = logging.getLogger(__name__)


def _database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # a checker thread's connection must not outlive it


CHECKS = {"database": _database, "redis": lambda: redis_client().ping(), "mongodb": history.ping}


def _timed(name: str, check) -> dict:
    started = time.perf_counter()
    try:
        check()
        ok = True
    except Exception as exc:  # each client raises its own kinds of connection error
        logger.warning("readiness: %s unavailable: %s", name, exc)
        ok = False
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}


class HealthCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    ms = serializers.FloatField(help_text="How long the check took, in milliseconds.")


class ReadinessChecksSerializer(serializers.Serializer):
    database = HealthCheckSerializer()
    redis = HealthCheckSerializer()
    mongodb = HealthCheckSerializer()


class ReadinessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = ReadinessChecksSerializer()


class LivenessApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="healthz",
        responses=inline_serializer("Liveness", {"status": serializers.CharField()}),
    )
    def get(self, request):
        return Response({"status": "ok"})


class ReadinessApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="readyz",
        responses={
            200: ReadinessSerializer,
            503: OpenApiResponse(ReadinessSerializer, description="A dependency is down; see `checks`."),
        },
    )
    def get(self, request):
        with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
            futures = {name: pool.submit(_timed, name, check) for name, check in CHECKS.items()}
            checks = {name: future.result() for name, future in futures.items()}
        ready = all(check["ok"] for check in checks.values())
        return Response(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={} if ready else {"Retry-After": str(RETRY_AFTER_S)},
        )
