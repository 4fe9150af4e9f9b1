"""Rate limits: submits per user, login and register per client address; reads are free."""

import pytest
from rest_framework.test import APIClient

from tests.clients import PASSWORD, client_for

SUBMITS, AUTH_ATTEMPTS = 3, 2


@pytest.fixture(autouse=True)
def low_rates(settings, monkeypatch):
    from rest_framework.settings import api_settings

    from api.throttles import AuthRateThrottle, PasswordRateThrottle, SubmitRateThrottle

    rates = {"submit": f"{SUBMITS}/minute", "auth": f"{AUTH_ATTEMPTS}/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    api_settings.reload()
    # SimpleRateThrottle reads the rates into a class attribute when DRF is imported.
    monkeypatch.setattr(SubmitRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(PasswordRateThrottle, "THROTTLE_RATES", rates)
    yield
    api_settings.reload()


def submit(client, valid_input):
    return client.post(
        "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, format="json"
    )


def assert_throttled(response):
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "retry_after_s"}
    assert body["code"] == "throttled"
    assert body["message"]
    assert isinstance(body["retry_after_s"], int)
    # A sliding window counter may ask for up to two windows (api/throttles.py): a full
    # window still weighs on the next until enough of it has slid out.
    assert 1 <= body["retry_after_s"] <= 120
    assert 1 <= int(response["Retry-After"]) <= 120
    assert abs(int(response["Retry-After"]) - body["retry_after_s"]) <= 1


def test_the_fourth_submit_in_a_minute_is_refused(history, api, model_version, valid_input):
    for _ in range(SUBMITS):
        assert submit(api, valid_input).status_code == 202
    response = submit(api, valid_input)
    assert_throttled(response)
    assert history.PredictionJob.objects.count() == SUBMITS, "a refused submit left a job behind"


def test_reading_the_history_is_not_limited_by_submits(history, api, model_version, valid_input):
    for _ in range(2 * SUBMITS):
        assert api.get("/api/v1/predictions/").status_code == 200
    ids = [submit(api, valid_input).json()["id"] for _ in range(SUBMITS)]
    assert submit(api, valid_input).status_code == 429
    for _ in range(2 * SUBMITS):
        assert api.get("/api/v1/predictions/").status_code == 200
        assert api.get("/api/v1/predictions/?format=csv").status_code == 200
    assert api.get(f"/api/v1/predictions/{ids[0]}/").status_code == 200


def test_each_user_has_their_own_submit_budget(history, api, make_user, model_version, valid_input):
    for _ in range(SUBMITS):
        submit(api, valid_input)
    assert submit(api, valid_input).status_code == 429
    other = client_for(make_user("bob"))
    for _ in range(SUBMITS):
        assert submit(other, valid_input).status_code == 202
    assert submit(other, valid_input).status_code == 429
    assert history.PredictionJob.objects.count() == 2 * SUBMITS


def login(path, username, password, **extra):
    return APIClient(**extra).post(path, {"username": username, "password": password}, format="json")


@pytest.mark.parametrize("path", ["/login/", "/api/v1/auth/token/"])
def test_login_is_limited_per_client_address_even_when_the_password_is_wrong(user, path):
    for _ in range(AUTH_ATTEMPTS):
        assert login(path, "alice", "wrong-password").status_code == 401
    assert_throttled(login(path, "alice", PASSWORD))
    assert login(path, "alice", PASSWORD, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_the_login_endpoints_share_one_budget_per_address(user):
    assert login("/login/", "alice", "wrong-password").status_code == 401
    assert login("/api/v1/auth/token/", "alice", "wrong-password").status_code == 401
    assert login("/login/", "alice", PASSWORD).status_code == 429
    assert login("/api/v1/auth/token/", "alice", PASSWORD).status_code == 429


@pytest.mark.parametrize("path", ["/register/", "/api/v1/auth/register/"])
def test_register_is_limited_per_client_address(db, path):
    from django.contrib.auth import get_user_model

    def register(name, **extra):
        body = {
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
        return APIClient(**extra).post(path, body, format="json")

    assert register("carol").status_code == 201
    assert register("carol").status_code == 400  # taken: a failed attempt counts too
    assert_throttled(register("dave"))
    assert not get_user_model().objects.filter(username="dave").exists()
    assert register("erin", REMOTE_ADDR="10.0.0.2").status_code == 201


def test_token_refresh_is_limited_per_client_address(user):
    for _ in range(AUTH_ATTEMPTS):
        assert (
            APIClient().post("/api/v1/auth/token/refresh/", {"refresh": "junk"}, format="json").status_code
            == 401
        )
    assert_throttled(APIClient().post("/api/v1/auth/token/refresh/", {"refresh": "junk"}, format="json"))


def test_a_forged_forwarded_for_header_does_not_reset_the_login_limit(user):
    for n in range(AUTH_ATTEMPTS):
        assert login("/login/", "alice", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 401
    assert login("/login/", "alice", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_every_counted_answer_says_how_much_of_the_limit_is_left(history, api, model_version, valid_input):
    remaining = []
    for _ in range(SUBMITS + 1):
        response = submit(api, valid_input)
        assert response["RateLimit-Limit"] == str(SUBMITS)
        assert 1 <= int(response["RateLimit-Reset"]) <= 60
        remaining.append(int(response["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0, 0]
    assert response.status_code == 429
    # Reads are not counted, so they carry no budget.
    assert "RateLimit-Limit" not in api.get("/api/v1/predictions/")


def test_login_answers_carry_the_per_address_budget(make_user):
    make_user("rita")
    response = APIClient().post("/login/", {"username": "rita", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == (str(AUTH_ATTEMPTS), "1")


def test_password_changes_are_limited_per_account_so_a_stolen_token_cannot_guess_the_old_one(make_user):
    def change(client, old_password):
        body = {"old_password": old_password, "new_password": "quartz-Lantern-5150"}
        return client.post("/api/v1/auth/password/", body, format="json")

    user = make_user("alice")
    alice = client_for(user)
    for n in range(AUTH_ATTEMPTS):
        assert change(alice, f"guess-{n}").status_code == 400
    assert_throttled(change(alice, PASSWORD))  # even the right guess is not checked
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    # Another account, from the same address, has its own budget.
    assert change(client_for(make_user("bob")), "guess-0").status_code == 400


# --- The counter itself: exact under races, and its waits are the truth --------------------


class FakeRequest:
    def __init__(self, pk: int):
        self.user = type("User", (), {"pk": pk, "is_authenticated": True})()
        self.META = {"REMOTE_ADDR": "127.0.0.1"}


def counter(clock: list[float]):
    from api.throttles import SubmitRateThrottle

    throttle = SubmitRateThrottle()
    throttle.timer = lambda: clock[0]
    return throttle


def test_racing_requests_get_exactly_the_budget(redis_server):
    from concurrent.futures import ThreadPoolExecutor

    from api.throttles import SubmitRateThrottle

    request = FakeRequest(pk=424242)
    request.method = "POST"

    def attempt(_):
        return SubmitRateThrottle().allow_request(request, None)

    with ThreadPoolExecutor(max_workers=16) as pool:
        allowed = list(pool.map(attempt, range(64)))
    assert allowed.count(True) == SUBMITS


def test_a_refused_client_that_waits_as_told_gets_through_and_not_a_moment_sooner(redis_server):
    request = FakeRequest(pk=434343)
    request.method = "POST"
    start = 60.0 * 1_000_000 + 55.0  # five seconds before a window ends: the hardest case
    clock = [start]
    for _ in range(SUBMITS):
        assert counter(clock).allow_request(request, None)
    refused = counter(clock)
    assert not refused.allow_request(request, None)
    wait = refused.wait()
    # Five seconds to the window's end, then a third of a window for its three requests to
    # weigh as two: 5 + 60 / 3.
    assert wait == pytest.approx(25)

    clock[0] = start + wait - 0.5
    assert not counter(clock).allow_request(request, None)
    clock[0] = start + wait + 0.01
    assert counter(clock).allow_request(request, None)
