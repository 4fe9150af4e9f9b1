"""Accounts through HTTP: register, tokens (obtain, rotate, blacklist), and the caller's profile."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from api.models import Profile
from tests.clients import PASSWORD, client_for, tokens_for

User = get_user_model()

REGISTER_URLS = ["/register/", "/api/v1/auth/register/"]
TOKEN_URLS = ["/login/", "/api/v1/auth/token/"]
REFRESH_URL = "/api/v1/auth/token/refresh/"
LOGOUT_URL = "/api/v1/auth/logout/"
ME_URL = "/api/v1/me/"

NEW_PASSWORD = "tumour-Lab-2048"


def registration(**overrides) -> dict:
    data = {
        "username": "carol",
        "email": "carol@example.com",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def assert_invalid(response, field: str) -> list[str]:
    """The 400 error shape, naming `field`; returns that field's messages."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"] == "The request is invalid."
    assert field in body["fields"], body
    messages = body["fields"][field]
    assert isinstance(messages, list)
    assert messages
    assert all(isinstance(message, str) and message for message in messages)
    return messages


# --- register -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", REGISTER_URLS)
def test_it_registers_a_user_with_a_profile(db, url):
    response = APIClient().post(
        url,
        registration(display_name="Carol C.", organization="Clinic", bio="Pathologist."),
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "carol"
    assert body["email"] == "carol@example.com"
    assert body["display_name"] == "Carol C."
    assert body["organization"] == "Clinic"
    assert body["bio"] == "Pathologist."
    assert body["is_staff"] is False

    user = User.objects.get(username="carol")
    assert user.email == "carol@example.com"
    assert user.check_password(NEW_PASSWORD)
    assert not user.is_staff
    profile = Profile.objects.get(user=user)
    assert (profile.display_name, profile.organization, profile.bio) == ("Carol C.", "Clinic", "Pathologist.")


@pytest.mark.parametrize("url", REGISTER_URLS)
def test_it_never_returns_the_password(db, url):
    response = APIClient().post(url, registration(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body
    assert "password_confirm" not in body
    assert NEW_PASSWORD.encode() not in response.content
    stored = User.objects.get(username="carol").password
    assert stored != NEW_PASSWORD
    assert stored.encode() not in response.content


def test_it_registers_without_the_optional_profile_fields(db):
    response = APIClient().post("/register/", registration(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["display_name"], body["organization"], body["bio"]) == ("", "", "")
    profile = Profile.objects.get(user__username="carol")
    assert (profile.display_name, profile.organization, profile.bio) == ("", "", "")


def test_a_registered_user_can_obtain_tokens_with_the_new_password(db):
    assert APIClient().post("/register/", registration(), format="json").status_code == 201

    tokens = tokens_for("carol", NEW_PASSWORD)

    assert set(tokens) == {"access", "refresh"}


@pytest.mark.parametrize("url", REGISTER_URLS)
def test_it_rejects_mismatched_passwords(db, url):
    response = APIClient().post(url, registration(password_confirm="tumour-Lab-2049"), format="json")

    assert assert_invalid(response, "password_confirm") == ["The two passwords differ."]
    assert not User.objects.exists()
    assert not Profile.objects.exists()


def test_it_rejects_a_common_password(db):
    response = APIClient().post(
        "/register/", registration(password="password123", password_confirm="password123"), format="json"
    )

    messages = assert_invalid(response, "password")
    assert any("too common" in message for message in messages), messages
    assert not User.objects.exists()


def test_it_rejects_a_short_numeric_password(db):
    response = APIClient().post(
        "/register/", registration(password="1234", password_confirm="1234"), format="json"
    )

    messages = assert_invalid(response, "password")
    assert any("too short" in message for message in messages), messages
    assert any("entirely numeric" in message for message in messages), messages
    assert not User.objects.exists()


def test_it_rejects_a_password_too_similar_to_the_username(db):
    response = APIClient().post(
        "/register/",
        registration(username="margaret", password="Margaret-2024", password_confirm="Margaret-2024"),
        format="json",
    )

    messages = assert_invalid(response, "password")
    assert any("too similar to the username" in message for message in messages), messages
    assert not User.objects.filter(username="margaret").exists()


def test_it_rejects_a_username_taken_in_another_case(make_user):
    existing = make_user("alice")

    response = APIClient().post(
        "/register/", registration(username="ALICE", email="other@example.com"), format="json"
    )

    assert assert_invalid(response, "username") == ["This username is taken."]
    assert list(User.objects.values_list("pk", flat=True)) == [existing.pk]


def test_registering_never_tells_whether_an_email_already_has_an_account(make_user):
    make_user("alice")  # alice@example.com

    taken = APIClient().post("/register/", registration(email="Alice@Example.COM"), format="json")
    fresh = APIClient().post(
        "/register/", registration(username="dora", email="dora@example.com"), format="json"
    )

    # The same answer, apart from the account's own fields: nothing says "exists".
    assert taken.status_code == fresh.status_code == 201
    assert set(taken.json()) == set(fresh.json())
    assert User.objects.filter(email__iexact="alice@example.com").count() == 2


def test_it_requires_an_email(db):
    response = APIClient().post("/register/", registration(email=None), format="json")

    assert assert_invalid(response, "email") == ["This field is required."]
    assert not User.objects.exists()


def test_it_rejects_a_malformed_email(db):
    response = APIClient().post("/register/", registration(email="not-an-email"), format="json")

    assert_invalid(response, "email")
    assert not User.objects.exists()


def test_it_rejects_a_username_with_spaces(db):
    response = APIClient().post("/register/", registration(username="carol smith"), format="json")

    assert_invalid(response, "username")
    assert not User.objects.exists()


def test_it_names_every_missing_field(db):
    response = APIClient().post("/register/", {}, format="json")

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"username", "email", "password", "password_confirm"}
    assert all(messages == ["This field is required."] for messages in fields.values())
    assert not User.objects.exists()


@pytest.mark.parametrize("url", REGISTER_URLS)
def test_it_rejects_a_malformed_json_body(db, url):
    response = APIClient().generic("POST", url, "{", content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert "JSON parse error" in body["message"]
    assert "fields" not in body
    assert not User.objects.exists()


# --- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", TOKEN_URLS)
def test_it_issues_an_access_and_a_refresh_token(make_user, url):
    make_user("alice")

    response = APIClient().post(url, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["access"] != body["refresh"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = client.get(ME_URL)
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


@pytest.mark.parametrize("url", TOKEN_URLS)
def test_it_refuses_tokens_for_a_wrong_password(make_user, url):
    make_user("alice")

    response = APIClient().post(url, {"username": "alice", "password": "wrong-Password-1"}, format="json")

    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "no_active_account"
    assert body["message"]
    assert "access" not in body
    assert "refresh" not in body


def test_it_refuses_tokens_for_an_unknown_user(db):
    response = APIClient().post("/login/", {"username": "nobody", "password": PASSWORD}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "no_active_account"


def test_refreshing_rotates_the_refresh_token(make_user):
    make_user("alice")
    first = tokens_for("alice")

    response = APIClient().post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    second = response.json()
    assert set(second) == {"access", "refresh"}
    assert second["refresh"] != first["refresh"]
    assert second["access"] != first["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {second['access']}")
    assert client.get(ME_URL).status_code == 200


def test_a_rotated_refresh_token_cannot_be_used_again(make_user):
    make_user("alice")
    first = tokens_for("alice")
    rotated = APIClient().post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200

    reused = APIClient().post(REFRESH_URL, {"refresh": first["refresh"]}, format="json")

    assert reused.status_code == 401
    body = reused.json()
    assert body["code"] == "token_not_valid"
    assert "access" not in body
    # The token the rotation handed out still works.
    again = APIClient().post(REFRESH_URL, {"refresh": rotated.json()["refresh"]}, format="json")
    assert again.status_code == 200


def test_it_refuses_to_refresh_a_garbage_token(db):
    response = APIClient().post(REFRESH_URL, {"refresh": "not-a-token"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


# --- logout ------------------------------------------------------------------------------------


def test_logout_blacklists_the_refresh_token(make_user):
    user = make_user("alice")
    tokens = tokens_for("alice")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 205
    assert response.content == b""
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    refreshed = APIClient().post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert refreshed.json()["code"] == "token_not_valid"


def test_logout_with_a_garbage_refresh_token_is_refused(make_user):
    user = make_user("alice")

    response = client_for(user).post(LOGOUT_URL, {"refresh": "not-a-token"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "token_not_valid"
    assert body["message"]
    assert not BlacklistedToken.objects.exists()


def test_logout_requires_the_refresh_field(make_user):
    user = make_user("alice")

    response = client_for(user).post(LOGOUT_URL, {}, format="json")

    assert assert_invalid(response, "refresh") == ["This field is required."]
    assert not BlacklistedToken.objects.exists()


def test_logout_requires_authentication(make_user):
    make_user("alice")
    tokens = tokens_for("alice")

    response = APIClient().post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not BlacklistedToken.objects.exists()
    assert APIClient().post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json").status_code == 200


# --- me ----------------------------------------------------------------------------------------


def test_me_requires_a_token(db):
    response = APIClient().get(ME_URL)

    assert response.status_code == 401
    body = response.json()
    assert body == {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_refuses_an_invalid_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = client.get(ME_URL)

    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "token_not_valid"
    assert isinstance(body["message"], str)
    assert body["message"]


def test_me_returns_the_account_and_its_profile(make_user):
    user = make_user("alice", first_name="Alice", last_name="Liddell")
    user.profile.display_name = "Al"
    user.profile.organization = "Wonderland"
    user.profile.bio = "Curious."
    user.profile.save()

    response = client_for(user).get(ME_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["first_name"] == "Alice"
    assert body["last_name"] == "Liddell"
    assert body["is_staff"] is False
    assert body["date_joined"]
    assert body["display_name"] == "Al"
    assert body["organization"] == "Wonderland"
    assert body["bio"] == "Curious."
    assert "password" not in body


def test_me_creates_a_profile_for_a_user_made_without_one(db):
    user = User.objects.create_user(username="admin", email="admin@example.com", password=PASSWORD)
    assert not Profile.objects.filter(user=user).exists()

    response = client_for(user).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["display_name"] == ""
    assert Profile.objects.filter(user=user).count() == 1


def test_me_updates_the_profile_and_the_account(make_user):
    user = make_user("alice")

    response = client_for(user).patch(
        ME_URL,
        {
            "display_name": "Alice L.",
            "organization": "Clinic",
            "first_name": "Alice",
            "email": "alice@clinic.example",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["display_name"] == "Alice L."
    assert body["organization"] == "Clinic"
    assert body["first_name"] == "Alice"
    assert body["email"] == "alice@clinic.example"
    user.refresh_from_db()
    user.profile.refresh_from_db()
    assert user.first_name == "Alice"
    assert user.email == "alice@clinic.example"
    assert user.profile.display_name == "Alice L."
    assert user.profile.organization == "Clinic"
    assert user.profile.bio == ""
    assert user.check_password(PASSWORD)


def test_me_patch_leaves_unsent_fields_alone(make_user):
    user = make_user("alice", first_name="Alice")
    user.profile.organization = "Wonderland"
    user.profile.save()

    response = client_for(user).patch(ME_URL, {"bio": "Curious."}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    user.profile.refresh_from_db()
    assert user.profile.bio == "Curious."
    assert user.profile.organization == "Wonderland"
    assert user.first_name == "Alice"
    assert user.email == "alice@example.com"


def test_me_never_tells_whether_another_account_uses_an_email(make_user):
    user = make_user("alice")
    make_user("bob")  # bob@example.com

    response = client_for(user).patch(
        ME_URL, {"email": "BOB@example.com", "display_name": "Alice"}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email == "BOB@example.com"


def test_me_accepts_the_callers_own_email_in_another_case(make_user):
    user = make_user("alice")

    response = client_for(user).patch(ME_URL, {"email": "ALICE@example.com"}, format="json")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.email == "ALICE@example.com"


def test_me_refuses_a_malformed_email(make_user):
    user = make_user("alice")

    response = client_for(user).patch(ME_URL, {"email": "not-an-email"}, format="json")

    assert_invalid(response, "email")
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_me_cannot_change_the_username(make_user):
    user = make_user("alice")

    response = client_for(user).patch(
        ME_URL, {"username": "mallory", "organization": "Clinic"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["organization"] == "Clinic"
    user.refresh_from_db()
    assert user.username == "alice"
    assert not User.objects.filter(username="mallory").exists()


def test_me_cannot_make_the_caller_staff(make_user):
    user = make_user("alice")

    response = client_for(user).patch(ME_URL, {"is_staff": True}, format="json")

    assert response.status_code == 200
    assert response.json()["is_staff"] is False
    user.refresh_from_db()
    assert not user.is_staff


def test_me_patch_requires_a_token(make_user):
    user = make_user("alice")

    response = APIClient().patch(ME_URL, {"display_name": "Mallory"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    user.profile.refresh_from_db()
    assert user.profile.display_name == ""
