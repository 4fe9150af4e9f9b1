"""The published OpenAPI schema: every route, the submit contract, the error shape, and validity."""

import os
import re
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from tests.processes import ROOT

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def openapi_path(prefix: str, route: str) -> str:
    """A Django route ("predictions/<str:job_id>/") as OpenAPI writes it."""
    return prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_it_serves_json_by_accept_header(db):
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["openapi"].startswith("3.")
    assert body["info"]["title"] == "Prediction platform API"


def test_every_api_route_is_documented(schema):
    from api.urls import urlpatterns
    from myproject.urls import urlpatterns as root_patterns

    routes = {str(p.pattern) for p in urlpatterns} - {"schema/", "docs/", r"^[\s\S]*$"}
    expected = {openapi_path("/api/v1/", route) for route in routes} | {"/login/", "/register/"}
    assert len(expected) == 34, "a route was added or removed: check the schema covers it"
    assert expected <= set(schema["paths"])
    assert "/api/v1/schema/" not in schema["paths"]
    assert {str(p.pattern) for p in root_patterns} >= {"login/", "register/"}


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/predictions/", {"get", "post"}),
        ("/api/v1/predictions/{job_id}/", {"get"}),
        ("/api/v1/predictions/{job_id}/cancel/", {"post"}),
        ("/api/v1/predictions/{job_id}/feedback/", {"post"}),
        ("/api/v1/predictions/{job_id}/webhooks/", {"get"}),
        ("/api/v1/trainings/", {"get", "post"}),
        ("/api/v1/trainings/{run_id}/", {"get"}),
        ("/api/v1/models/", {"get", "post"}),
        ("/api/v1/models/{name}/", {"get", "delete"}),
        ("/api/v1/models/{name}/versions/", {"get", "post"}),
        ("/api/v1/models/{name}/versions/{number}/artifact/", {"get"}),
        ("/api/v1/models/{name}/versions/{number}/card/", {"get"}),
        ("/api/v1/models/{name}/versions/{number}/promote/", {"post"}),
        ("/api/v1/models/{name}/rollback/", {"post"}),
        ("/api/v1/models/{name}/samples/", {"post"}),
        ("/api/v1/datasets/", {"get", "post"}),
        ("/api/v1/datasets/{name}/", {"get", "delete"}),
        ("/api/v1/datasets/{name}/versions/{number}/download/", {"get"}),
        ("/api/v1/estimators/", {"get"}),
        ("/api/v1/webhooks/default/secret/", {"get"}),
        ("/api/v1/auth/register/", {"post"}),
        ("/api/v1/auth/token/", {"post"}),
        ("/api/v1/auth/token/refresh/", {"post"}),
        ("/api/v1/auth/logout/", {"post"}),
        ("/api/v1/auth/logout-all/", {"post"}),
        ("/api/v1/auth/password/", {"post"}),
        ("/api/v1/me/", {"get", "patch"}),
        ("/login/", {"post"}),
        ("/register/", {"post"}),
    ],
)
def test_each_route_documents_exactly_its_methods(schema, path, methods):
    operations = {key for key in schema["paths"][path] if key != "parameters"}
    assert operations == methods


def test_submitting_documents_its_headers(schema):
    operation = schema["paths"]["/api/v1/predictions/"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(headers) == {"Idempotency-Key", "Prefer", "Cancel-After"}
    assert "422" in headers["Idempotency-Key"]["description"]
    assert "wait=N" in headers["Prefer"]["description"]
    assert "30s" in headers["Cancel-After"]["description"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(resolve(schema, request)["properties"]) >= {"model", "version", "input", "inputs", "webhook"}


def test_submitting_documents_each_outcome_with_the_error_shape(schema):
    responses = schema["paths"]["/api/v1/predictions/"]["post"]["responses"]
    assert set(responses) == {"200", "202", "400", "401", "413", "415", "422", "429", "503"}
    for code in ("200", "202"):
        job = resolve(schema, responses[code]["content"]["application/json"]["schema"])
        assert {"id", "status", "output", "metrics"} <= set(job["properties"])
    for code in ("400", "401", "413", "422", "429", "503"):
        assert responses[code]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
        assert responses[code]["description"]


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def test_every_operation_documents_the_errors_it_can_answer_in_the_one_shape(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        if {} not in operation.get("security", [{}]):
            assert "401" in responses, where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), where
        for code, response in responses.items():
            if code >= "400" and path != "/readyz":  # its 503 is the readiness report itself
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, where
                assert response["description"], where


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/v1/trainings/", "post", {"400", "401", "403", "404", "413", "415", "503"}),
        ("/api/v1/models/{name}/versions/{number}/promote/", "post", {"401", "403", "404", "503"}),
        ("/api/v1/models/{name}/rollback/", "post", {"401", "403", "404", "409", "503"}),
        ("/api/v1/models/{name}/versions/", "post", {"400", "401", "403", "404", "413", "415", "503"}),
        ("/api/v1/models/{name}/versions/{number}/artifact/", "get", {"400", "401", "404", "503"}),
        ("/api/v1/predictions/{job_id}/", "get", {"401", "404", "503"}),
        ("/api/v1/auth/token/", "post", {"400", "401", "413", "415", "429"}),
        ("/api/v1/auth/register/", "post", {"400", "413", "415", "429"}),
        ("/api/v1/auth/token/refresh/", "post", {"400", "401", "413", "415", "429"}),
        ("/api/v1/auth/password/", "post", {"400", "401", "413", "415", "429"}),
        ("/api/v1/auth/logout-all/", "post", {"401"}),
        ("/api/v1/me/", "get", {"401"}),
    ],
)
def test_errors_follow_from_permissions_throttles_and_services(schema, path, method, codes):
    documented = {code for code in schema["paths"][path][method]["responses"] if code >= "400"}
    assert documented == codes


def test_the_error_shape_is_documented(schema):
    error = resolve(schema, {"$ref": ERROR_REF})
    assert set(error["properties"]) == {"code", "message", "fields", "retry_after_s"}
    assert sorted(error["required"]) == ["code", "message"]
    assert error["properties"]["fields"]["additionalProperties"]["items"]["type"] == "string"


def test_the_history_documents_its_filters_and_the_csv_export(schema):
    operation = schema["paths"]["/api/v1/predictions/"]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert set(query) == {
        "model",
        "version",
        "status",
        "created_after",
        "created_before",
        "limit",
        "cursor",
        "format",
    }
    assert query["status"]["enum"] == ["queued", "running", "succeeded", "failed", "canceled"]
    assert (query["limit"]["minimum"], query["limit"]["maximum"]) == (1, 100)
    assert query["created_after"]["format"] == "date-time"
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}


def test_the_api_is_documented_as_needing_a_bearer_token(schema):
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    assert {"jwtAuth": []} in schema["paths"]["/api/v1/predictions/"]["post"]["security"]


def test_the_docs_page_renders(db):
    response = APIClient().get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "swagger-ui" in page.lower()
    assert "/api/v1/schema/" in page


def documented_shape(schema: dict, operation: dict, status: str) -> tuple[str, set]:
    body = resolve(schema, operation["responses"][status]["content"]["application/json"]["schema"])
    return body.get("type", "object"), set(body.get("properties", {}))


def actual_shape(body) -> tuple[str, set]:
    return ("array", set()) if isinstance(body, list) else ("object", set(body))


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/api/v1/models/breast_cancer/", "/api/v1/models/{name}/"),
        ("/api/v1/predictions/", "/api/v1/predictions/"),
        ("/api/v1/me/", "/api/v1/me/"),
        ("/api/v1/webhooks/default/secret/", "/api/v1/webhooks/default/secret/"),
        # Lists: {"results": [...]}
        ("/api/v1/models/", "/api/v1/models/"),
        ("/api/v1/models/breast_cancer/versions/", "/api/v1/models/{name}/versions/"),
        ("/api/v1/trainings/", "/api/v1/trainings/"),
    ],
)
def test_documented_responses_match_what_the_api_returns(
    schema, history, staff_api, model_version, url, path
):
    response = staff_api.get(url)
    assert response.status_code == 200
    assert actual_shape(response.json()) == documented_shape(schema, schema["paths"][path]["get"], "200")


def test_the_schema_passes_drf_spectaculars_validation(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "myproject.settings", "VAR_DIR": str(tmp_path)}
    out = tmp_path / "schema.yml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert out.read_text().startswith("openapi: 3.")


@pytest.mark.django_db(transaction=True)
def test_the_documented_submit_examples_run_as_written(schema, history, api, live_worker):
    """The bodies the docs offer under "Try it out" succeed against the models make up trains
    (the webhook is left out: its example host does not resolve on a closed network)."""
    from tests.clients import wait_for_job
    from tests.shipped import register

    register("iris")
    content = schema["paths"]["/api/v1/predictions/"]["post"]["requestBody"]["content"]["application/json"]
    examples = [example["value"] for example in content["examples"].values()]
    assert len(examples) == 2
    for body in examples:
        body = {key: value for key, value in body.items() if not key.startswith("webhook")}
        response = api.post("/api/v1/predictions/", body, format="json")
        assert response.status_code == 202, response.json()
        job = wait_for_job(api, response.json()["id"])
        assert job["status"] == "succeeded", job
        outputs = job["output"] if "inputs" in body else [job["output"]]
        assert [output["label"] for output in outputs] == ["setosa", "virginica"][: len(outputs)]


def test_the_rate_limit_and_retry_headers_are_documented(schema):
    submit = schema["paths"]["/api/v1/predictions/"]["post"]["responses"]
    assert set(submit["202"]["headers"]) == {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    for code in ("429", "503"):
        assert submit[code]["headers"]["Retry-After"]["required"] is True
    assert "headers" not in schema["paths"]["/api/v1/me/"]["get"]["responses"]["200"]
