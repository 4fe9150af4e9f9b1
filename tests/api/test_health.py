"""Liveness and readiness, as a load balancer or an orchestrator asks for them."""

from rest_framework.test import APIClient


def test_liveness_needs_no_token_and_touches_nothing(db, django_assert_num_queries, monkeypatch):
    from api.views import health

    def touched(*args, **kwargs):
        raise AssertionError("/healthz touched a dependency")

    # None of the checks /readyz makes (the SQL database, Redis, MongoDB), nor any SQL query.
    for name in health.CHECKS:
        monkeypatch.setitem(health.CHECKS, name, touched)
    with django_assert_num_queries(0):
        response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_checks_the_database_redis_and_mongodb(history, db):
    response = APIClient().get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "mongodb"}
    for check in body["checks"].values():
        assert check["ok"] is True
        # How long it took, reported (how long is the benchmarks' to judge, not a test's).
        assert isinstance(check["ms"], int | float)
        assert check["ms"] >= 0
