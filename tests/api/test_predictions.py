"""Submitting and reading predictions: every rejection happens before a job exists."""

import pytest

from tests.clients import client_for, submit


@pytest.fixture
def no_jobs_after(history):
    yield
    assert history.PredictionJob.objects.count() == 0, "a rejected request left a job behind"


def test_it_requires_a_token(db, valid_input):
    from rest_framework.test import APIClient

    response = submit(APIClient(), {"model": "breast_cancer", "input": valid_input})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_it_rejects_an_invalid_token(db):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = client.get("/api/v1/predictions/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda row: row.pop("mean_radius"), "input.mean_radius", "required"),
        (lambda row: row.update(shoe_size=42), "input.shoe_size", "Unknown feature"),
        (lambda row: row.update(mean_radius=None), "input.mean_radius", "null"),
        (lambda row: row.update(mean_radius="big"), "input.mean_radius", "number is required"),
        (lambda row: row.update(mean_radius=True), "input.mean_radius", "number is required"),
        (lambda row: row.update(mean_radius=[1.0]), "input.mean_radius", "number is required"),
    ],
    ids=["missing", "extra", "null", "string", "bool", "list"],
)
def test_it_rejects_bad_features_naming_the_field(
    api, model_version, valid_input, no_jobs_after, change, field, reason
):
    change(valid_input)
    response = submit(api, {"model": "breast_cancer", "input": valid_input})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]
    assert reason in body["fields"][field][0]


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1" + "0" * 400])
def test_it_rejects_non_finite_numbers(api, model_version, valid_input, no_jobs_after, literal):
    import json

    body = json.dumps({"model": "breast_cancer", "input": valid_input}).replace(
        json.dumps(valid_input["mean_radius"]), literal, 1
    )
    assert abs(json.loads(body)["input"]["mean_radius"]) > 1e308
    response = api.post("/api/v1/predictions/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"input.mean_radius": ["Must be a finite number."]}


def test_it_rejects_nan_literals_as_malformed_json(api, model_version, valid_input, no_jobs_after):
    import json

    body = json.dumps({"model": "breast_cancer", "input": {**valid_input, "mean_radius": float("nan")}})
    response = api.post("/api/v1/predictions/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_it_rejects_an_unknown_model(api, model_version, valid_input, no_jobs_after):
    response = submit(api, {"model": "weather", "input": valid_input})
    assert response.status_code == 400
    assert "Unknown model" in response.json()["fields"]["model"][0]


def test_it_rejects_a_body_that_is_not_json(api, model_version, no_jobs_after):
    response = api.post(
        "/api/v1/predictions/", '{"model": "breast_cancer", "input": {', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "JSON" in response.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {}}, "model"),
        ({"model": "breast_cancer"}, "input"),
        ({"model": "breast_cancer", "input": [1, 2]}, "input"),
        ({"model": "breast_cancer", "input": {}, "colour": "red"}, "colour"),
        ([], "non_field_errors"),
    ],
    ids=["no-model", "no-input", "input-not-object", "unknown-field", "not-an-object"],
)
def test_it_rejects_a_malformed_request(api, model_version, no_jobs_after, body, field):
    response = submit(api, body)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_it_returns_404_for_another_users_job(history, api, make_user, model_version, valid_input):
    job = submit(api, {"model": "breast_cancer", "input": valid_input}).json()
    other = client_for(make_user("mallory"))
    response = other.get(f"/api/v1/predictions/{job['id']}/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No prediction with this id."}
    assert other.get("/api/v1/predictions/").json()["results"] == []


@pytest.mark.parametrize("job_id", ["0b6c5d1e-0000-4000-8000-000000000000", "not-a-uuid", "%24where"])
def test_it_returns_404_for_unknown_or_malformed_ids(history, api, job_id):
    assert api.get(f"/api/v1/predictions/{job_id}/").status_code == 404


def test_it_records_the_job_before_answering(history, api, user, model_version, valid_input):
    response = submit(api, {"model": "breast_cancer", "input": valid_input})
    assert response.status_code == 202
    job = response.json()
    stored = history.PredictionJob.objects.get(id=job["id"])
    assert stored.owner_id == user.pk
    assert job["status"] == "queued"
    # A live worker (if a test before started one) may already have taken it.
    assert stored.status in ("queued", "running", "succeeded")
    assert stored.artifact_sha256 == model_version.artifact_sha256
    assert stored.input == valid_input
    assert response["Location"] == f"http://testserver/api/v1/predictions/{job['id']}/"


def test_a_job_links_what_a_client_can_do_with_it(history, api, model_version, valid_input, settings):
    job = submit(api, {"model": "breast_cancer", "input": valid_input}).json()
    path = f"/api/v1/predictions/{job['id']}/"
    assert job["urls"] == {
        "get": path,
        "cancel": f"{path}cancel/",
        "feedback": f"{path}feedback/",
        "webhooks": f"{path}webhooks/",
        "web": f"/history/{job['id']}/",
    }
    assert api.get(job["urls"]["get"]).json()["id"] == job["id"]
    assert api.post(job["urls"]["cancel"]).json()["status"] in ("canceled", "succeeded")

    settings.PUBLIC_BASE_URL = "https://ml.example.com"
    assert api.get(path).json()["urls"]["get"] == f"https://ml.example.com{path}"


def test_it_pages_the_history_newest_first(history, api, user, model_version, valid_input):
    submitted = [submit(api, {"model": "breast_cancer", "input": valid_input}).json()["id"] for _ in range(5)]
    # Two submits may share a millisecond (what MongoDB keeps); the id breaks the tie.
    jobs = history.PredictionJob.objects(id__in=submitted)
    ids = [job.id for job in sorted(jobs, key=lambda job: (job.created_at, job.id))]
    first = api.get("/api/v1/predictions/?limit=2").json()
    assert [job["id"] for job in first["results"]] == ids[::-1][:2]
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    assert [job["id"] for job in second["results"] + third["results"]] == ids[::-1][2:]
    assert third["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=%%%"])
def test_it_rejects_bad_paging_parameters(history, api, query):
    response = api.get(f"/api/v1/predictions/?{query}")
    assert response.status_code == 400
    assert set(response.json()["fields"]) <= {"limit", "cursor"}


def test_an_idempotency_key_whose_first_request_wrote_no_job_is_taken_over(
    history, api, user, model_version, valid_input, monkeypatch
):
    import json
    from datetime import timedelta

    from api import services
    from api.views.predictions import request_hash

    # Each replay below waits this long for a job that is never written (10 s in service).
    monkeypatch.setattr(services, "IDEMPOTENCY_REPLAY_WAIT_S", 0.5)

    body = {"model": "breast_cancer", "input": valid_input}
    # As if a first request had reserved the key and then lost MongoDB before writing its job.
    history.key_claim(
        owner_id=user.pk,
        key="k1",
        request_hash=request_hash(json.loads(json.dumps(body))),
        job_id="never-written",
        ttl=timedelta(hours=1),
    )
    # Recently reserved: it may still be running, so the key is not taken over yet.
    in_flight = submit(api, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert in_flight.status_code == 409
    assert in_flight.json()["code"] == "conflict"
    assert history.PredictionJob.objects.count() == 0
    history.IdempotencyKey.objects(id=f"{user.pk}:k1").update_one(
        set__reserved_at=history.now() - timedelta(minutes=2)
    )
    response = submit(api, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 202, response.json()
    assert history.PredictionJob.objects.count() == 1
    again = submit(api, body, HTTP_IDEMPOTENCY_KEY="k1")
    assert again.json()["id"] == response.json()["id"]
    assert again["Idempotent-Replayed"] == "true"


def test_webhook_deliveries_of_another_users_job_are_a_404(
    history, api, make_user, model_version, valid_input
):
    job = submit(api, {"model": "breast_cancer", "input": valid_input}).json()
    assert api.get(f"/api/v1/predictions/{job['id']}/webhooks/").json() == {"results": []}
    other = client_for(make_user("mallory"))
    assert other.get(f"/api/v1/predictions/{job['id']}/webhooks/").status_code == 404


def test_a_wait_that_mongodb_cuts_short_still_answers_the_accepted_job(
    history, api, model_version, valid_input, monkeypatch
):
    # The job is written and its task published; then MongoDB stops answering (its disk
    # filled: tests/chaos/test_mongo_faults.py) while the request waits for the finish. The
    # answer is the accepted job (202, where to poll), never a 503 "nothing was queued",
    # which would have the client submit it a second time.
    published = []
    monkeypatch.setattr("api.services.prediction_enqueue", lambda job_id, job=None: published.append(job_id))

    def unavailable(*args, **kwargs):
        raise history.HistoryUnavailable("MongoDB could not do the work (1 InternalError)")

    monkeypatch.setattr(history, "job_get", unavailable)
    response = submit(api, {"model": "breast_cancer", "input": valid_input}, HTTP_PREFER="wait=1")

    assert response.status_code == 202, response.json()
    job = response.json()
    assert job["status"] == "queued"
    assert published == [job["id"]]
    assert history.PredictionJob.objects.get(id=job["id"]).status == "queued"
    assert response["Location"] == f"http://testserver/api/v1/predictions/{job['id']}/"
