"""The API as the tests call it: the test users' password, a client holding a user's JWT,
a login's tokens, a submit, waiting on a job or a training run, and the one error shape."""

import time

from rest_framework.test import APIClient

from api.tokens import PlatformRefreshToken

PASSWORD = "correct-Horse-battery-9"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {PlatformRefreshToken.for_user(user).access_token}")
    return client


def tokens_for(username: str, password: str = PASSWORD) -> dict:
    """The access and refresh tokens of a login through the API (which must succeed)."""
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def submit(client: APIClient, body, **headers):
    """POST a prediction request as JSON; `headers` as the test client takes them (HTTP_...)."""
    return client.post("/api/v1/predictions/", body, format="json", **headers)


def assert_error(response, status: int, code: str, *, keys=("code", "message")) -> dict:
    """The API's one error shape: `status`, JSON, exactly `keys`, this `code` and a message."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == set(keys)
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def _wait_for_end(client: APIClient, url: str, ended: tuple[str, ...], timeout: float) -> dict:
    """What `url` answers once its status is one of `ended`, or when `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(url).json()
        if body["status"] in ended or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def wait_for_job(client: APIClient, job_id: str, *, timeout: float = 30) -> dict:
    return _wait_for_end(
        client, f"/api/v1/predictions/{job_id}/", ("succeeded", "failed", "canceled"), timeout
    )


def wait_for_run(client: APIClient, run_id: str, *, timeout: float = 60) -> dict:
    return _wait_for_end(client, f"/api/v1/trainings/{run_id}/", ("succeeded", "failed"), timeout)


def model_builder_group():
    """The "model builders" group, with its permission. A data migration makes it
    (predictor/migrations/0008_model_builders_group.py); a transactional test's flush removes
    it, so it is made again here when missing."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="model builders")
    group.permissions.add(
        Permission.objects.get(codename="build_models", content_type__app_label="predictor")
    )
    return group
