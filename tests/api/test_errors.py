"""One error shape across the API: {"code", "message"}, plus `fields` (400) or `retry_after_s` (429)."""

import pytest
from rest_framework.test import APIClient

from tests.clients import assert_error, client_for, submit


def test_a_validation_error_names_each_field(history, api, model_version, valid_input):
    del valid_input["mean_radius"]
    response = submit(api, {"model": "breast_cancer", "input": valid_input, "colour": "red"})
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert body["message"] == "The request is invalid."
    assert body["fields"] == {"colour": ["Unknown field."]}
    assert all(isinstance(m, str) for messages in body["fields"].values() for m in messages)


def test_a_nested_validation_error_is_flattened_to_a_dotted_field(history, api, model_version, valid_input):
    response = submit(
        api, {"model": "breast_cancer", "inputs": [valid_input, {**valid_input, "mean_radius": "x"}]}
    )
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    [field] = body["fields"]
    assert field.startswith("inputs[1]")
    assert field.endswith("mean_radius")


def test_malformed_json_is_a_400_without_fields(history, api, model_version):
    response = api.post("/api/v1/predictions/", "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_no_token_is_401(history):
    response = submit(APIClient(), {"model": "breast_cancer", "input": {}})
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_401_in_the_same_shape(history):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert_error(client.get("/api/v1/predictions/"), 401, "token_not_valid")


def test_a_training_request_by_neither_the_owner_nor_staff_is_403(history, api, model_version):
    response = api.post("/api/v1/trainings/", {"model": "breast_cancer"}, format="json")
    assert_error(response, 403, "permission_denied")
    assert history.TrainingRun.objects.count() == 0


@pytest.mark.parametrize(
    "url",
    ["/api/v1/predictions/0b6c5d1e-0000-4000-8000-000000000000/", "/api/v1/models/weather/"],
)
def test_an_unknown_resource_is_404(history, api, model_version, url):
    assert_error(api.get(url), 404, "not_found")


def test_an_unknown_cancel_is_404(history, api):
    response = api.post("/api/v1/predictions/0b6c5d1e-0000-4000-8000-000000000000/cancel/")
    assert_error(response, 404, "not_found")


def test_a_method_the_route_lacks_is_405(history, api, model_version, valid_input):
    job_id = submit(api, {"model": "breast_cancer", "input": valid_input}).json()["id"]
    response = api.delete("/api/v1/predictions/")
    body = assert_error(response, 405, "method_not_allowed")
    assert "DELETE" in body["message"]
    assert "DELETE" not in response["Allow"]
    assert "POST" in response["Allow"]
    assert_error(api.put(f"/api/v1/predictions/{job_id}/", {}, format="json"), 405, "method_not_allowed")
    assert history.PredictionJob.objects.count() == 1


def test_a_body_that_is_not_json_is_415(history, api, model_version):
    response = api.post("/api/v1/predictions/", "model=breast_cancer", content_type="text/plain")
    body = assert_error(response, 415, "unsupported_media_type")
    assert "text/plain" in body["message"]
    assert history.PredictionJob.objects.count() == 0


def test_an_idempotency_key_reused_with_another_body_is_422(history, api, model_version, valid_input):
    first = submit(api, {"model": "breast_cancer", "input": valid_input}, HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == 202
    changed = {**valid_input, "mean_radius": valid_input["mean_radius"] + 1}
    response = submit(api, {"model": "breast_cancer", "input": changed}, HTTP_IDEMPOTENCY_KEY="order-42")
    body = assert_error(response, 422, "idempotency_key_reused")
    assert "Idempotency-Key" in body["message"]
    assert [job.id for job in history.PredictionJob.objects] == [first.json()["id"]]


def test_a_throttled_request_is_429_with_retry_after(history, api, model_version, valid_input, monkeypatch):
    from api.throttles import SubmitRateThrottle

    monkeypatch.setattr(SubmitRateThrottle, "THROTTLE_RATES", {"submit": "1/minute"})
    assert submit(api, {"model": "breast_cancer", "input": valid_input}).status_code == 202
    response = submit(api, {"model": "breast_cancer", "input": valid_input})
    body = assert_error(response, 429, "throttled", keys=("code", "message", "retry_after_s"))
    assert isinstance(body["retry_after_s"], int)
    assert body["retry_after_s"] > 0
    assert response["Retry-After"].isdigit()


def test_a_dead_broker_is_503_with_retry_after(history, api, model_version, valid_input, monkeypatch):
    from kombu.exceptions import OperationalError

    def refuse(job_id, job=None):
        raise OperationalError("connection refused")

    monkeypatch.setattr("api.services.prediction_enqueue", refuse)
    response = submit(api, {"model": "breast_cancer", "input": valid_input})
    body = assert_error(response, 503, "service_unavailable")
    assert "Redis" in body["message"]
    assert response["Retry-After"] == "5"
    assert history.PredictionJob.objects.count() == 0


def test_another_users_job_is_the_same_404_as_none(history, api, make_user, model_version, valid_input):
    job_id = submit(api, {"model": "breast_cancer", "input": valid_input}).json()["id"]
    other = client_for(make_user("mallory"))
    theirs = other.get(f"/api/v1/predictions/{job_id}/")
    unknown = other.get("/api/v1/predictions/0b6c5d1e-0000-4000-8000-000000000000/")
    assert assert_error(theirs, 404, "not_found") == assert_error(unknown, 404, "not_found")


def test_an_unknown_api_route_is_a_json_404(history, api):
    assert_error(api.get("/api/v1/no-such-thing/"), 404, "not_found")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=", "status"),
        ("created_before=", "created_before"),
        ("model=", "model"),
        (f"version={10**30}", "version"),
        ("limit=0", "limit"),
    ],
)
def test_a_blank_or_out_of_range_history_filter_is_a_400_naming_it(history, api, query, field):
    response = api.get(f"/api/v1/predictions/?{query}")
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert list(body["fields"]) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"bio": 0}, "bio"), ({"display_name": 1.5}, "display_name"), ({"first_name": True}, "first_name")],
)
def test_a_number_where_text_belongs_is_refused_not_coerced(api, body, field):
    response = api.patch("/api/v1/me/", body, format="json")
    fields = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))["fields"]
    assert fields == {field: ["Not a string."]}


def test_a_submit_with_a_numeric_model_name_is_refused_as_not_text(history, api, valid_input):
    fields = assert_error(
        submit(api, {"model": 7, "input": valid_input}), 400, "invalid", keys=("code", "message", "fields")
    )["fields"]
    assert fields == {"model": ["Not a string."]}


def test_an_unknown_path_with_a_newline_is_still_a_json_404(api):
    assert_error(api.get("/api/v1/models/%0A%12/"), 404, "not_found")
