"""Attacks on the API's JWTs, each refused: a stolen refresh token kept alive by rotation,
tokens that outlive a password change or a "log out everywhere", a deleted user's token."""

from datetime import datetime, timedelta

import jwt.api_jwt
import pytest
import rest_framework_simplejwt.tokens
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from api.tokens import FAMILY_EXP_CLAIM, PASSWORD_CLAIM, PlatformRefreshToken, password_digest
from tests.clients import PASSWORD, tokens_for

User = get_user_model()

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
PASSWORD_URL = "/api/v1/auth/password/"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all/"
ME_URL = "/api/v1/me/"
PAGE_URL = "/accounts/password/"

NEW_PASSWORD = "quartz-Lantern-5150"
DAY = timedelta(days=1)


class Clock:
    """Moves the time every token sees (simplejwt's and PyJWT's checks) forward."""

    def __init__(self, monkeypatch):
        self.offset = timedelta()
        clock = self

        class Shifted(datetime):
            @classmethod
            def now(cls, tz=None):
                return datetime.now(tz) + clock.offset

        utcnow = rest_framework_simplejwt.tokens.aware_utcnow
        # simplejwt stamps iat and exp, and checks exp and the family's end, by this clock...
        monkeypatch.setattr(rest_framework_simplejwt.tokens, "aware_utcnow", lambda: utcnow() + clock.offset)
        # ...and PyJWT checks exp (and that iat is not in the future) by this.
        monkeypatch.setattr(jwt.api_jwt, "datetime", Shifted)

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def refresh(token: str):
    return APIClient().post(REFRESH_URL, {"refresh": token}, format="json")


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def me(access: str):
    return bearer(access).get(ME_URL)


def claims(token: str) -> dict:
    return PlatformRefreshToken(token, verify=False).payload


def assert_refused(response, code: str = "token_not_valid") -> None:
    """A 401 in the API's one error shape, never a 500 or a token."""
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]


def without(token: str, claim: str) -> str:
    """The token as it would have been issued before `claim` existed, signed like ours."""
    crafted = PlatformRefreshToken(token, verify=False)
    del crafted[claim]
    return str(crafted)


def pre_family_token(user) -> str:
    """A refresh token as issued before families: simplejwt's, bound to the password."""
    token = RefreshToken.for_user(user)
    token[PASSWORD_CLAIM] = password_digest(user)
    assert FAMILY_EXP_CLAIM not in token
    return str(token)


# --- a refresh token family has an absolute end ------------------------------------------------


def test_it_stops_a_stolen_refresh_token_rotated_again_and_again_at_the_familys_end(make_user, clock):
    make_user("alice")
    first = tokens_for("alice")["refresh"]
    family_exp = claims(first)[FAMILY_EXP_CLAIM]
    assert family_exp == claims(first)["iat"] + 30 * 24 * 3600
    token = first
    for _ in range(4):  # the thief refreshes every 6 days, each time before the token expires
        clock.advance(6 * DAY)
        response = refresh(token)
        assert response.status_code == 200, response.content
        token = response.json()["refresh"]
        assert claims(token)[FAMILY_EXP_CLAIM] == family_exp  # carried over, never reset
    clock.advance(5 * DAY)  # day 29: still inside the family
    response = refresh(token)
    assert response.status_code == 200, response.content
    token, access = response.json()["refresh"], response.json()["access"]
    # Rotation renews the token's own expiry, but never past the family's end.
    assert claims(token)["exp"] == family_exp
    assert claims(access)["exp"] <= family_exp

    clock.advance(DAY + timedelta(seconds=1))  # past day 30

    assert_refused(refresh(token))
    assert tokens_for("alice")["refresh"]  # the owner logs in again: a new family


def test_the_familys_length_is_the_jwt_refresh_max_lifetime_setting(make_user, clock, settings):
    settings.JWT_REFRESH_MAX_LIFETIME = 2 * DAY
    make_user("alice")
    token = tokens_for("alice")["refresh"]
    # Shorter than a refresh token's own lifetime (7 days): the family's end caps it at once.
    assert claims(token)["exp"] == claims(token)["iat"] + 2 * 24 * 3600

    clock.advance(DAY)
    response = refresh(token)
    assert response.status_code == 200, response.content
    clock.advance(DAY + timedelta(seconds=1))

    assert_refused(refresh(response.json()["refresh"]))


def test_a_token_issued_before_families_ends_the_max_lifetime_after_its_iat(make_user, clock, settings):
    settings.JWT_REFRESH_MAX_LIFETIME = 3 * DAY
    user = make_user("alice")
    rotated, kept = pre_family_token(user), pre_family_token(user)
    issued_at = claims(rotated)["iat"]

    clock.advance(DAY)
    response = refresh(rotated)
    assert response.status_code == 200, response.content
    # The rotated token joins a family that ends where the old token's would have.
    assert claims(response.json()["refresh"])[FAMILY_EXP_CLAIM] == issued_at + 3 * 24 * 3600

    clock.advance(2 * DAY + timedelta(seconds=1))
    # Its own exp (7 days) has not passed; its family's end (3 days) has.
    assert claims(kept)["exp"] > issued_at + 3 * 24 * 3600
    assert_refused(refresh(kept))
    assert_refused(refresh(response.json()["refresh"]))


def test_of_two_racing_rotations_of_one_token_only_one_succeeds(make_user, monkeypatch):
    make_user("alice")
    token = tokens_for("alice")["refresh"]
    # Both requests passed the blacklist check before either blacklisted the token.
    monkeypatch.setattr(PlatformRefreshToken, "check_blacklist", lambda self: None)

    assert refresh(token).status_code == 200
    assert_refused(refresh(token))


# --- a password change ends every token ----------------------------------------------------------


def test_a_password_changed_through_the_api_refuses_every_old_token(make_user):
    make_user("alice")
    laptop, phone = tokens_for("alice"), tokens_for("alice")

    response = bearer(laptop["access"]).post(
        PASSWORD_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 205, response.content
    assert response.content == b""
    for tokens in (laptop, phone):
        assert_refused(refresh(tokens["refresh"]))
        assert_refused(me(tokens["access"]))
    bad = APIClient().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert_refused(bad, code="no_active_account")
    assert me(tokens_for("alice", NEW_PASSWORD)["access"]).status_code == 200


def test_a_password_set_outside_the_api_refuses_every_old_token(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")
    rotated = refresh(tokens_for("alice")["refresh"]).json()

    # As the admin's password form and `manage.py changepassword` do.
    user.set_password(NEW_PASSWORD)
    user.save()

    for pair in (tokens, rotated):
        assert_refused(refresh(pair["refresh"]))
        assert_refused(me(pair["access"]))
    # The password claim did it alone: only the rotated-away token is blacklisted.
    assert BlacklistedToken.objects.count() == 1
    assert me(tokens_for("alice", NEW_PASSWORD)["access"]).status_code == 200


def test_tokens_issued_before_password_binding_are_refused(make_user):
    user = make_user("alice")
    legacy = RefreshToken.for_user(user)  # simplejwt's own token: no password claim
    assert PASSWORD_CLAIM not in legacy

    assert_refused(refresh(str(legacy)))
    assert_refused(me(str(legacy.access_token)))
    assert_refused(refresh(without(tokens_for("alice")["refresh"], PASSWORD_CLAIM)))


def test_a_password_change_needs_the_right_old_password(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")

    response = bearer(tokens["access"]).post(
        PASSWORD_URL, {"old_password": "guessed-Wrong-77", "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"old_password"}
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not BlacklistedToken.objects.exists()
    assert refresh(tokens["refresh"]).status_code == 200


def test_a_password_change_runs_the_password_validators(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")

    response = bearer(tokens["access"]).post(
        PASSWORD_URL, {"old_password": PASSWORD, "new_password": "1234"}, format="json"
    )

    assert response.status_code == 400, response.content
    messages = response.json()["fields"]["new_password"]
    assert any("too short" in message for message in messages), messages
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert me(tokens["access"]).status_code == 200


def test_a_password_change_requires_a_token(make_user):
    user = make_user("alice")

    response = APIClient().post(
        PASSWORD_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert_refused(response, code="not_authenticated")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- log out everywhere ------------------------------------------------------------------------


def test_logout_all_refuses_every_refresh_token_of_the_caller_and_no_one_elses(make_user):
    make_user("alice")
    make_user("bob")
    laptop = tokens_for("alice")
    phone = refresh(tokens_for("alice")["refresh"]).json()  # a session that has rotated since
    bob = tokens_for("bob")

    response = bearer(laptop["access"]).post(LOGOUT_ALL_URL)

    assert response.status_code == 205, response.content
    assert response.content == b""
    assert_refused(refresh(laptop["refresh"]))
    assert_refused(refresh(phone["refresh"]))
    assert refresh(bob["refresh"]).status_code == 200
    assert refresh(tokens_for("alice")["refresh"]).status_code == 200  # a new login is not affected


def test_logout_all_requires_a_token(make_user):
    make_user("alice")
    tokens = tokens_for("alice")

    assert_refused(APIClient().post(LOGOUT_ALL_URL), code="not_authenticated")
    assert not BlacklistedToken.objects.exists()
    assert refresh(tokens["refresh"]).status_code == 200


# --- a deleted or deactivated user --------------------------------------------------------------


def test_a_deleted_users_refresh_token_is_a_401_not_a_500(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")
    user.delete()

    assert_refused(refresh(tokens["refresh"]))
    assert_refused(me(tokens["access"]), code="user_not_found")


def test_a_deactivated_users_refresh_token_is_refused(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")
    user.is_active = False
    user.save()

    assert_refused(refresh(tokens["refresh"]), code="no_active_account")


# --- the profile page's password change -------------------------------------------------------


def test_a_password_changed_on_the_page_ends_api_tokens_but_not_the_page_session(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    assert PAGE_URL.encode() in browser.get("/profile/").content
    assert browser.get(PAGE_URL).status_code == 200

    response = browser.post(
        PAGE_URL,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert_refused(refresh(tokens["refresh"]))
    assert_refused(me(tokens["access"]))
    page = browser.get("/profile/")
    assert page.status_code == 200  # still logged in, not sent to the login page
    assert b"Password changed" in page.content


def test_the_page_refuses_a_wrong_old_password(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)

    response = browser.post(
        PAGE_URL,
        {"old_password": "guessed-Wrong-77", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 400
    assert b'class="error"' in response.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert me(tokens["access"]).status_code == 200


def test_the_password_page_needs_a_login(db):
    response = Client().get(PAGE_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
