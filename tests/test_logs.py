"""Log lines that say whose they are (myproject/logs.py): a request id from the web request
into the worker's lines about its job, as text or JSON."""

import json
import logging

import pytest

from myproject import logs
from myproject.servers import wait_until
from tests.clients import wait_for_job
from tests.processes import LOG_DIR


def record(message="job x succeeded", **extra) -> logging.LogRecord:
    made = logging.LogRecord("predictor.predictions", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(made, key, value)
    logs.ContextFilter().filter(made)
    return made


def test_a_json_line_carries_the_request_and_the_job_and_leaves_out_what_is_unknown():
    with logs.about_job("job-1", "breast_cancer", 3, request="req-1"):
        line = json.loads(logs.JsonFormatter().format(record(status="succeeded")))

    assert line["message"] == "job x succeeded"
    assert (line["level"], line["logger"]) == ("INFO", "predictor.predictions")
    assert (line["request_id"], line["job_id"], line["model"], line["version"]) == (
        "req-1",
        "job-1",
        "breast_cancer",
        3,
    )
    assert line["status"] == "succeeded"
    assert "time" in line

    bare = json.loads(logs.JsonFormatter().format(record()))
    assert not {"request_id", "job_id", "model", "version"} & set(bare)


def test_what_a_call_says_wins_over_the_context_and_text_lines_end_with_the_fields():
    with logs.about_job("leader", "iris", 1):
        made = record(job_id="peer", request_id="req-peer")
    text = logs.TextFormatter().format(made)
    assert text.endswith("[request_id=req-peer job_id=peer model=iris version=1]")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("two words", False),
        ("forged\nINFO fake line", False),
        ("", False),
        (None, False),
    ],
)
def test_a_request_id_is_kept_only_when_fit_to_log(client, sent, kept):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    answered = client.get("/healthz", **headers)["X-Request-ID"]
    if kept:
        assert answered == sent
    else:
        assert answered != sent
        assert len(answered) == 32
        int(answered, 16)


def test_one_request_id_follows_a_job_from_the_web_into_the_workers_lines(
    history, live_worker, api, model_version, valid_input
):
    submitted = api.post(
        "/api/v1/predictions/",
        {"model": "breast_cancer", "input": valid_input},
        format="json",
        HTTP_X_REQUEST_ID="follow-me-42",
    )
    assert submitted["X-Request-ID"] == "follow-me-42"
    job = wait_for_job(api, submitted.json()["id"])
    assert job["status"] == "succeeded"
    assert history.job_get(job["id"]).request_id == "follow-me-42"

    def lines_about_the_job():
        found = []
        for text in (LOG_DIR / "predict-worker.log").read_text(errors="replace").splitlines():
            if job["id"] in text and text.startswith("{"):
                found.append(json.loads(text))
        return found

    wait_until(
        lambda: any("succeeded" in line["message"] for line in lines_about_the_job()),
        timeout=10,
        what="the worker's line about the job",
    )
    finish = next(line for line in lines_about_the_job() if line["message"].endswith("succeeded"))
    assert finish["request_id"] == "follow-me-42"
    assert (finish["job_id"], finish["model"], finish["version"]) == (
        job["id"],
        "breast_cancer",
        job["version"],
    )
    assert finish["queue_s"] >= 0
    # Celery's own line about the task, inside the task, carries it too.
    task_lines = [line for line in lines_about_the_job() if line["logger"].startswith("celery")]
    assert any(line.get("request_id") == "follow-me-42" for line in task_lines)
