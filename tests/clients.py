"""The test users' password, an API client holding a user's JWT, and waiting on a job."""

import time

from rest_framework.test import APIClient

from api.tokens import PlatformRefreshToken

PASSWORD = "correct-Horse-battery-9"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {PlatformRefreshToken.for_user(user).access_token}")
    return client


def wait_for_job(client: APIClient, job_id: str, *, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/predictions/{job_id}/").json()
        if body["status"] in ("succeeded", "failed", "canceled") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)
