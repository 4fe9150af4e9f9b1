"""Hostile input: each attack an audit found, performed, and refused with the documented answer.

Deep JSON, numbers of thousands of digits in headers, oversized headers and bodies: each is
a 400 or 413 in the one error shape (or, for Prefer, a capped preference), never a 500 or an
HTML page, and nothing is written to MongoDB on the way.
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest
from django.test import Client

from api.headers import IDEMPOTENCY_KEY_MAX_LENGTH
from api.parsers import MAX_JSON_DEPTH, json_depth
from api.waiting import MAX_WAIT_S, prefer_wait_seconds
from tests.clients import assert_error, submit
from tests.live import web_server

MB = 1024 * 1024
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = "9" * 5000  # int() refuses more than 4,300 digits


def nested(depth: int):
    """A value of `depth` nested arrays around a number."""
    value = 1.0
    for _ in range(depth):
        value = [value]
    return value


def assert_nothing_written(history):
    assert history.PredictionJob.objects.count() == 0
    assert history.IdempotencyKey.objects.count() == 0


# --- Deep JSON ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/register/", "/login/", "/api/v1/auth/register/", "/api/v1/auth/token/"])
def test_it_refuses_a_100000_deep_array_without_a_login_as_a_400(db, path):
    response = Client().post(path, DEEP_ARRAY, content_type="application/json")
    body = assert_error(response, 400, "parse_error")
    assert f"at most {MAX_JSON_DEPTH} levels" in body["message"]


def test_it_refuses_a_submit_nested_one_level_past_the_bound(history, api, model_version, valid_input):
    # body -> input -> the feature's value: the value's own arrays make up the rest.
    too_deep = {"model": "breast_cancer", "input": {**valid_input, "mean_radius": nested(MAX_JSON_DEPTH - 1)}}
    assert_error(submit(api, too_deep), 400, "parse_error")
    assert_nothing_written(history)


def test_it_parses_json_at_the_bound_and_judges_it_as_input(history, api, model_version, valid_input):
    deepest = {"model": "breast_cancer", "input": {**valid_input, "mean_radius": nested(MAX_JSON_DEPTH - 2)}}
    body = assert_error(submit(api, deepest), 400, "invalid", keys=("code", "message", "fields"))
    assert list(body["fields"]) == ["input.mean_radius"]
    assert_nothing_written(history)


def test_it_turns_a_recursion_error_the_depth_check_missed_into_a_400(db, monkeypatch):
    monkeypatch.setattr("api.parsers.json_depth", lambda text: 0)
    response = Client().post("/register/", DEEP_ARRAY, content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_it_does_not_count_brackets_inside_strings(api):
    response = api.patch("/api/v1/me/", {"bio": "[{" * 500}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["bio"] == "[{" * 500


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[", "\\"[[", {"k]": "}}"}]', 2),
        ("[" * 40 + "]" * 40, 40),
        (DEEP_ARRAY, 100_000),
    ],
)
def test_it_counts_json_depth_without_parsing(text, depth):
    assert json_depth(text) == depth


# --- Numbers of thousands of digits, and oversized headers ------------------------------


@pytest.mark.parametrize(
    ("header", "value", "field"),
    [
        ("HTTP_CANCEL_AFTER", HUGE_NUMBER, "cancel_after"),
        ("HTTP_CANCEL_AFTER", HUGE_NUMBER + "h", "cancel_after"),
        ("HTTP_IDEMPOTENCY_KEY", HUGE_NUMBER, "Idempotency-Key"),
        ("HTTP_IDEMPOTENCY_KEY", "k" * 100_000, "Idempotency-Key"),
    ],
    ids=["cancel-after-digits", "cancel-after-hours", "idempotency-key-digits", "idempotency-key-100kb"],
)
def test_it_refuses_a_huge_header_as_a_400_naming_it_and_writes_nothing(
    history, api, model_version, valid_input, header, value, field
):
    response = submit(api, {"model": "breast_cancer", "input": valid_input}, **{header: value})
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert list(body["fields"]) == [field]
    assert_nothing_written(history)


def test_it_refuses_a_huge_cancel_after_in_the_body_too(history, api, model_version, valid_input):
    response = submit(api, {"model": "breast_cancer", "input": valid_input, "cancel_after": HUGE_NUMBER})
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert list(body["fields"]) == ["cancel_after"]
    assert_nothing_written(history)


def test_it_judges_every_header_before_writing_anything(history, api, model_version, valid_input):
    response = submit(
        api,
        {"model": "breast_cancer", "input": valid_input},
        HTTP_PREFER=f"wait={HUGE_NUMBER}",
        HTTP_IDEMPOTENCY_KEY="fine",
        HTTP_CANCEL_AFTER=HUGE_NUMBER,
    )
    assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert_nothing_written(history)


def test_it_accepts_an_idempotency_key_at_the_length_limit(history, api, model_version, valid_input):
    key = "k" * IDEMPOTENCY_KEY_MAX_LENGTH
    response = submit(api, {"model": "breast_cancer", "input": valid_input}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 202, response.json()
    assert history.IdempotencyKey.objects.count() == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (f"wait={HUGE_NUMBER}", MAX_WAIT_S),
        ("wait=61", MAX_WAIT_S),
        ("respond-async, wait=" + "0" * 5000 + "7", 7),
        ("wait=x", 0),
        (None, 0),
    ],
)
def test_it_caps_a_prefer_wait_of_any_size(header, seconds):
    assert prefer_wait_seconds(header) == seconds


@pytest.mark.pipeline
def test_it_honours_a_5000_digit_prefer_wait_as_the_capped_wait(
    history, live_worker, api, model_version, valid_input
):
    response = submit(
        api, {"model": "breast_cancer", "input": valid_input}, HTTP_PREFER=f"wait={HUGE_NUMBER}"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "succeeded"
    assert [job.status for job in history.PredictionJob.objects] == ["succeeded"]


# --- Oversized bodies -------------------------------------------------------------------


@pytest.fixture
def one_mb_limit(settings):
    settings.REQUEST_MAX_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = MB


@pytest.mark.parametrize("path", ["/api/v1/predictions/", "/register/", "/login/"])
def test_it_answers_a_body_over_the_limit_with_a_json_413(history, api, one_mb_limit, path):
    response = api.post(path, b"x" * (MB + 1), content_type="application/json")
    body = assert_error(response, 413, "request_too_large")
    assert "at most 1 MB" in body["message"]
    assert_nothing_written(history)


def test_it_answers_a_page_over_the_limit_with_a_plain_413(db, one_mb_limit):
    response = Client().post(
        "/accounts/login/", b"x" * (MB + 1), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")
    assert b"at most 1 MB" in response.content


def test_it_takes_a_body_at_the_limit(history, api, model_version, valid_input, one_mb_limit):
    body = json.dumps({"model": "breast_cancer", "input": valid_input}).encode()
    padded = body[:-1] + b" " * (MB - len(body)) + b"}"
    response = api.post("/api/v1/predictions/", padded, content_type="application/json")
    assert response.status_code == 202, response.json()


def test_it_answers_djangos_own_size_refusal_with_the_json_413_too(
    history, api, model_version, valid_input, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = submit(api, {"model": "breast_cancer", "inputs": [valid_input] * 3})
    assert_error(response, 413, "request_too_large")
    assert_nothing_written(history)


def test_it_judges_a_body_under_the_limit_by_its_content_not_its_size(
    history, api, model_version, valid_input, settings
):
    rows = 3 * MB // len(json.dumps(valid_input))
    assert rows > settings.PREDICTION_MAX_BATCH_ROWS
    response = submit(api, {"model": "breast_cancer", "inputs": [valid_input] * rows})
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert list(body["fields"]) == ["inputs"]
    assert_nothing_written(history)


# --- Through a real gunicorn ------------------------------------------------------------


def raw_post(base: str, path: str, body: bytes, token: str | None = None) -> tuple[int, str, dict]:
    """POST over a plain connection, as a client that sends its whole body before reading."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), json.loads(response.read())
    finally:
        connection.close()


def test_it_answers_hostile_bodies_with_json_through_gunicorn(site_env, history, valid_input):
    rows = int(3.8 * MB) // len(json.dumps(valid_input)) + 1
    under_limit = json.dumps({"model": "breast_cancer", "inputs": [valid_input] * rows}).encode()
    over_limit = b"[" + b"0," * (13 * MB // 2) + b"0]"
    assert len(under_limit) > 3.8 * MB
    assert len(over_limit) > 13 * MB
    with web_server(site_env) as (base, token):
        # Was Django's HTML 400 (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB): now judged as input.
        status, content_type, body = raw_post(base, "/api/v1/predictions/", under_limit, token)
        assert (status, content_type, body["code"]) == (400, "application/json", "invalid"), body
        assert list(body["fields"]) == ["inputs"]

        # Was a broken pipe: nothing read the body before gunicorn closed the connection.
        status, content_type, body = raw_post(base, "/api/v1/predictions/", over_limit, token)
        assert (status, content_type, body["code"]) == (413, "application/json", "request_too_large")
        assert "at most 12 MB" in body["message"]

        # Was a 500 from json's RecursionError, and needs no login.
        status, content_type, body = raw_post(base, "/register/", DEEP_ARRAY.encode())
        assert (status, content_type, body["code"]) == (400, "application/json", "parse_error"), body
    assert history.PredictionJob.objects.count() == 0


# --- What orjson refuses and Python's json reads -------------------------------------


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        # Beyond 64 bits: orjson refuses it, json reads it, and the row check names the feature.
        ("9" * 400, "Must be a finite number."),
        ("123456789012345678901234567890", None),  # a big but finite number: a valid value
        ("1e400", "Must be a finite number."),  # orjson: "infinity"; json: float('inf')
    ],
    ids=["400-digit-integer", "30-digit-integer", "1e400"],
)
def test_numbers_orjson_refuses_are_still_judged_as_input(
    history, api, model_version, valid_input, literal, message
):
    row = json.dumps(valid_input).replace(json.dumps(valid_input["mean_radius"]), literal, 1)
    body = '{"model": "breast_cancer", "input": ' + row + "}"
    response = api.post("/api/v1/predictions/", body, content_type="application/json")
    if message is None:
        assert response.status_code == 202, response.json()
        return
    body = assert_error(response, 400, "invalid", keys=("code", "message", "fields"))
    assert body["fields"] == {"input.mean_radius": [message]}
    assert_nothing_written(history)


def test_broken_json_is_a_400_in_the_one_error_shape(history, api):
    response = api.post(
        "/api/v1/predictions/", '{"model": "breast_cancer", "input": {', content_type="application/json"
    )
    body = assert_error(response, 400, "parse_error", keys=("code", "message"))
    assert body["message"].startswith("JSON parse error")
    assert_nothing_written(history)
