"""Password guessing, tried as an attacker would: against the API's token endpoints, the
login page and the admin's login; from one address and spread over many."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.clients import PASSWORD

LOGIN_URLS = ["/login/", "/api/v1/auth/token/"]


@pytest.fixture
def victim(make_user):
    return make_user("victim")


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 5
    return 5


def api_login(address: str, password: str, url="/login/", username="victim"):
    # Each guess from another address: the per-address rate limit never sees two.
    return APIClient(REMOTE_ADDR=address).post(
        url, {"username": username, "password": password}, format="json"
    )


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_guesses_spread_over_many_addresses_lock_the_username(victim, limit, url):
    answers = [api_login(f"198.51.100.{n}", f"guess-{n}", url).status_code for n in range(limit)]
    # Wrong passwords until the limit; the guess that reaches it is answered as locked.
    assert answers == [401] * (limit - 1) + [429]

    # Even the right password is refused now, from yet another address.
    locked = api_login("203.0.113.9", PASSWORD, url)

    assert locked.status_code == 429
    body = locked.json()
    assert body["code"] == "login_locked"
    assert "Too many failed logins" in body["message"]
    assert 60 <= int(locked["Retry-After"]) <= 15 * 60
    assert body["retry_after_s"] == int(locked["Retry-After"])
    assert "access" not in body


def test_a_locked_username_locks_nobody_else(victim, make_user, limit):
    make_user("bystander")
    for n in range(limit):
        api_login(f"198.51.100.{n}", f"guess-{n}")

    assert api_login("198.51.100.1", PASSWORD, username="bystander").status_code == 200
    assert api_login("198.51.100.1", PASSWORD).status_code == 429


def test_a_successful_login_before_the_limit_clears_the_count(victim, limit):
    for n in range(limit - 1):
        api_login(f"198.51.100.{n}", f"guess-{n}")
    assert api_login("198.51.100.50", PASSWORD).status_code == 200

    for n in range(limit - 1):
        assert api_login(f"198.51.100.{n}", f"guess-{n}").status_code == 401
    assert api_login("198.51.100.50", PASSWORD).status_code == 200


def test_the_login_page_locks_a_username_after_the_failure_limit(victim, limit):
    for n in range(limit - 1):
        page = Client(REMOTE_ADDR=f"198.51.100.{n}").post(
            "/accounts/login/", {"username": "victim", "password": f"guess-{n}"}
        )
        assert page.status_code == 200  # the form again, with its error
    Client(REMOTE_ADDR="198.51.100.99").post("/accounts/login/", {"username": "victim", "password": "last"})

    locked = Client(REMOTE_ADDR="203.0.113.9").post(
        "/accounts/login/", {"username": "victim", "password": PASSWORD}
    )

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    assert "_auth_user_id" not in locked.wsgi_request.session


def test_the_admin_login_locks_a_username_too(make_user, limit):
    make_user("root", is_staff=True, is_superuser=True)
    for n in range(limit):
        Client(REMOTE_ADDR=f"198.51.100.{n}").post(
            "/admin/login/", {"username": "root", "password": f"guess-{n}"}
        )

    browser = Client(REMOTE_ADDR="203.0.113.9")
    locked = browser.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert locked.status_code == 429
    assert browser.get("/admin/").status_code == 302  # still not logged in


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/accounts/login/", {"username": "victim", "password": "wrong"}),
        ("/admin/login/", {"username": "victim", "password": "wrong"}),
        ("/accounts/register/", {"username": "", "password": "x"}),
    ],
)
def test_forty_posts_in_a_row_from_one_address_are_throttled(victim, settings, path, fields):
    # The per-address limit alone (lockout out of the way): 40 tries, as the audit did.
    settings.AXES_FAILURE_LIMIT = 1000
    client = Client(REMOTE_ADDR="192.0.2.7")
    answers = [client.post(path, fields).status_code for _ in range(40)]

    allowed = 20  # THROTTLE_AUTH's default: 20 a minute
    assert 429 not in answers[:allowed]
    assert set(answers[allowed:]) == {429}
    refused = client.post(path, fields)
    assert "Too many attempts from your address" in refused.content.decode()
    # Up to two windows: the sliding window counter's longest wait (api/throttles.py).
    assert 1 <= int(refused["Retry-After"]) <= 120


def test_behind_one_proxy_each_client_has_its_own_bucket(victim, settings):
    # compose runs the web behind a proxy (NUM_PROXIES=1): the address the proxy appended
    # is the client's; anything the client wrote before it is ignored.
    from rest_framework.settings import api_settings

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    api_settings.reload()
    try:
        proxy = "10.0.0.2"
        first = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
        for _ in range(20):
            first.post("/accounts/login/", {"username": "victim", "password": "wrong"})
        assert first.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 429
        # Forging an earlier entry does not give the same client a new bucket.
        forged = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1")
        assert forged.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 429
        # Another client behind the same proxy is not locked out with them.
        second = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
        assert second.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 200
    finally:
        api_settings.reload()
