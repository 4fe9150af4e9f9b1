"""Batch files end to end: a real CSV through multipart into GridFS, chunks scored by a live
`celery worker` on the batch queue, progress, results in input order, and every refusal
leaving nothing stored."""

import csv
import io
import json
import os
import signal
import time

import numpy as np
import pytest
import sklearn
from mongoengine.connection import get_db

from myproject.servers import stop
from predictor.inference import pipeline_get, predict_rows
from tests.clients import client_for
from tests.processes import start_worker

pytestmark = pytest.mark.pipeline

BATCHES = "/api/v1/batches/"


@pytest.fixture(scope="session")
def batch_worker(mongo_server, purged_queues):
    """A real `celery worker` on the batch queue (the Procfile's batcher)."""
    proc = start_worker("batch", {})
    yield proc
    stop(proc)


def table_csv(table, *, rows: int, bad: dict[int, tuple[str, str]] = (), newline: str = "\r\n") -> bytes:
    """The breast_cancer table's first `rows` rows as a user's export: an `id` key column
    first, the features, the label column (not a feature, left out), CRLF line ends;
    `bad`: {row index: (column, cell text)} cells to spoil."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=newline)
    columns = list(table.columns)
    writer.writerow(["id", *columns])
    for index in range(rows):
        record = table.iloc[index]
        cells = [
            f"patient-{index:05d}",
            *[repr(float(record[c])) if c != "diagnosis" else record[c] for c in columns],
        ]
        if index in dict(bad):
            column, text = dict(bad)[index]
            cells[1 + columns.index(column)] = text
        writer.writerow(cells)
    return out.getvalue().encode()


def upload(client, data: bytes, *, name="patients.csv", **fields):
    body = {"file": _named(data, name), **fields}
    return client.post(BATCHES, body, format="multipart")


def _named(data: bytes, name: str):
    stream = io.BytesIO(data)
    stream.name = name
    return stream


def wait_batch(client, batch_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.get(f"{BATCHES}{batch_id}/").json()
        if batch["status"] in ("succeeded", "failed", "canceled"):
            return batch
        assert time.monotonic() < deadline, f"batch still {batch['status']}: {batch}"
        time.sleep(0.1)


def stored_files() -> int:
    return get_db()["batch_files.files"].count_documents({})


def test_a_file_is_scored_in_chunks_in_input_order_with_an_error_line_per_bad_row(
    db, history, batch_worker, model_version, breast_cancer_table, api, settings
):
    settings.BATCH_CHUNK_ROWS = 40  # 200 rows: 5 chunks
    table, _ = breast_cancer_table
    data = table_csv(
        table,
        rows=200,
        bad={7: ("mean_radius", "abc"), 41: ("worst_area", ""), 199: ("mean_texture", "NaN")},
    )
    submitted = upload(api, data, model="breast_cancer", key_column="id")
    assert submitted.status_code == 202, submitted.json()
    batch = submitted.json()
    assert submitted["Location"].endswith(f"{BATCHES}{batch['id']}/")
    assert batch["rows"]["total"] == 200
    assert batch["chunks"]["total"] == 5

    done = wait_batch(api, batch["id"])
    assert done["status"] == "succeeded", done
    assert done["rows"] == {"total": 200, "done": 197, "failed": 3, "pending": 0, "canceled": 0}
    assert done["rows_per_second"] > 0
    assert done["seconds_left"] is None

    results = api.get(done["urls"]["results"])
    assert results.status_code == 200
    assert results["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(results.streaming_content).decode())))
    header, rows = lines[0], lines[1:]
    assert header == ["id", "label", "p_benign", "p_malignant", "error"]
    assert [row[0] for row in rows] == [f"patient-{index:05d}" for index in range(200)]
    errors = {index: row[-1] for index, row in enumerate(rows) if row[-1]}
    assert set(errors) == {7, 41, 199}
    assert errors[7] == 'mean_radius: "abc" is not a number.'
    assert errors[41].startswith("worst_area: May not be null")
    assert all(row[1:4] == ["", "", ""] for index, row in enumerate(rows) if index in errors)

    # The predictions are the model's own on the same rows, in the same order.
    features = [f["name"] for f in model_version.feature_schema]
    good = [index for index in range(200) if index not in errors]
    expected = predict_rows(
        pipeline_get(
            model_version.artifact_sha256,
            sklearn_version=sklearn.__version__,
            signature=model_version.artifact_signature,
        ),
        [{name: float(table.iloc[index][name]) for name in features} for index in good],
        features,
    )
    assert [rows[index][1] for index in good] == [each["label"] for each in expected]
    got = np.array([float(rows[index][3]) for index in good])
    want = np.array([each["probabilities"]["malignant"] for each in expected])
    assert np.allclose(got, want, atol=1e-6)
    assert sum(done["labels"].values()) == 197
    assert done["labels"] == {label: [row[1] for row in rows].count(label) for label in done["labels"]}


def test_without_a_key_column_each_result_line_starts_with_its_line_in_the_file(
    db, history, batch_worker, model_version, breast_cancer_table, api, settings
):
    settings.BATCH_CHUNK_ROWS = 3
    table, _ = breast_cancer_table
    text = table_csv(table, rows=6).decode()
    # A blank line and a quoted id over two lines move the lines of the rows after them.
    lines = text.split("\r\n")
    lines.insert(3, "")
    lines[5] = '"patient\r\n-3"' + lines[5][len("patient-00003") :]
    data = "\r\n".join(lines).encode()
    submitted = upload(api, data, model="breast_cancer")
    assert submitted.status_code == 202, submitted.json()
    done = wait_batch(api, submitted.json()["id"])
    assert done["status"] == "succeeded", done
    body = b"".join(api.get(done["urls"]["results"]).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "line"
    assert [row[0] for row in rows[1:]] == ["2", "3", "5", "6", "8", "9"]
    assert all(row[-1] == "" for row in rows[1:])


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ("mean radius,mean texture\n1,2\n".encode("utf-16"), "file", "UTF-16"),
        ("id,mean radius\nBiscoé,1\n".encode("latin-1"), "file", "UTF-8"),
        (b"", "file", "empty"),
        (b"id,x,x\n1,2,3\n", "file", "twice"),
    ],
)
def test_a_file_that_is_no_utf8_csv_is_refused_and_nothing_is_stored(
    db, history, model_version, api, data, field, words
):
    response = upload(api, data, model="breast_cancer")
    assert response.status_code == 400, response.json()
    message = " ".join(response.json()["fields"][field])
    assert words in message
    assert stored_files() == 0
    assert history.BatchJob.objects.count() == 0
    assert get_db()["batch_uploads"].count_documents({}) == 0  # no upload left marked under way
    assert history.BatchChunk.objects.count() == 0


def test_a_record_with_more_cells_than_the_header_is_refused_naming_its_line(
    db, history, model_version, breast_cancer_table, api
):
    table, _ = breast_cancer_table
    lines = table_csv(table, rows=20, newline="\n").decode().splitlines()
    lines[12] += ",surplus"
    response = upload(api, ("\n".join(lines) + "\n").encode(), model="breast_cancer")
    assert response.status_code == 400, response.json()
    assert "13" in response.json()["fields"]["file"][0]
    assert stored_files() == 0
    assert history.BatchJob.objects.count() == 0
    assert get_db()["batch_uploads"].count_documents({}) == 0  # no upload left marked under way


def test_a_header_without_a_feature_or_the_key_column_is_refused(
    db, history, model_version, breast_cancer_table, api
):
    table, _ = breast_cancer_table
    data = table_csv(table.drop(columns=["mean_radius"]), rows=5)
    response = upload(api, data, model="breast_cancer", key_column="customer")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "mean_radius" in fields["file"][0]
    assert "customer" in fields["key_column"][0]
    assert stored_files() == 0
    assert history.BatchJob.objects.count() == 0
    assert get_db()["batch_uploads"].count_documents({}) == 0  # no upload left marked under way


def test_an_unknown_model_a_missing_file_and_a_file_over_the_limit(
    db, history, model_version, breast_cancer_table, api, settings
):
    table, _ = breast_cancer_table
    data = table_csv(table, rows=50)
    unknown = upload(api, data, model="no-such-model")
    assert unknown.status_code == 400
    assert "model" in unknown.json()["fields"]
    missing = api.post(BATCHES, {"model": "breast_cancer"}, format="multipart")
    assert missing.status_code == 400
    assert "file" in missing.json()["fields"]
    settings.BATCH_FILE_MAX_BYTES = len(data) - 1
    too_large = upload(api, data, model="breast_cancer")
    assert too_large.status_code == 413, too_large.json()
    assert stored_files() == 0
    assert history.BatchJob.objects.count() == 0
    assert get_db()["batch_uploads"].count_documents({}) == 0  # no upload left marked under way


def test_a_first_chunk_mostly_wrong_stops_the_batch_early_saying_why(
    db, history, batch_worker, model_version, breast_cancer_table, api, settings
):
    settings.BATCH_CHUNK_ROWS = 10
    table, _ = breast_cancer_table
    data = table_csv(table, rows=100, bad={index: ("mean_area", "n/a") for index in range(8)})
    submitted = upload(api, data, model="breast_cancer")
    assert submitted.status_code == 202
    done = wait_batch(api, submitted.json()["id"])
    assert done["status"] == "failed"
    assert "8 of the first 10 rows (80%)" in done["error"]
    # Every row still has its line: scored, an error, or not scored.
    body = b"".join(api.get(done["urls"]["results"]).streaming_content).decode()
    assert len(list(csv.reader(io.StringIO(body)))) == 101


def test_a_batch_is_its_owners_only_and_a_cancel_ends_it(
    db, history, batch_worker, model_version, breast_cancer_table, api, make_user, settings
):
    settings.BATCH_CHUNK_ROWS = 5
    table, _ = breast_cancer_table
    submitted = upload(api, table_csv(table, rows=300), model="breast_cancer")
    batch = submitted.json()
    other = client_for(make_user("mallory"))
    for path in (batch["urls"]["self"], batch["urls"]["results"]):
        assert other.get(path).status_code == 404
    assert other.post(batch["urls"]["cancel"]).status_code == 404
    assert other.get(BATCHES).json()["results"] == []

    canceled = api.post(batch["urls"]["cancel"]).json()
    done = wait_batch(api, batch["id"])
    assert canceled["status"] in ("canceled", "succeeded")
    assert done["status"] == canceled["status"]
    rows = done["rows"]
    assert rows["done"] + rows["failed"] + rows["canceled"] == 300
    assert rows["pending"] == 0
    body = b"".join(api.get(done["urls"]["results"]).streaming_content).decode()
    lines = list(csv.reader(io.StringIO(body)))[1:]
    assert len(lines) == 300
    assert sum(1 for line in lines if line[-1] == "not scored: canceled") == rows["canceled"]
    assert [item["id"] for item in api.get(BATCHES).json()["results"]] == [batch["id"]]


def test_the_same_idempotency_key_and_file_give_the_same_batch(
    db, history, model_version, breast_cancer_table, api
):
    table, _ = breast_cancer_table
    data = table_csv(table, rows=30)
    first = api.post(BATCHES, {"file": _named(data, "a.csv"), "model": "breast_cancer"}, format="multipart",
                     HTTP_IDEMPOTENCY_KEY="nightly-2026-12-08")  # fmt: skip
    again = api.post(BATCHES, {"file": _named(data, "a.csv"), "model": "breast_cancer"}, format="multipart",
                     HTTP_IDEMPOTENCY_KEY="nightly-2026-12-08")  # fmt: skip
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert stored_files() == 1
    assert history.BatchJob.objects.count() == 1
    changed = {"file": _named(data, "a.csv"), "model": "breast_cancer", "key_column": "id"}
    other = api.post(BATCHES, changed, format="multipart", HTTP_IDEMPOTENCY_KEY="nightly-2026-12-08")
    assert other.status_code == 422
    assert stored_files() == 1


def test_a_chunk_whose_worker_process_is_killed_runs_again_and_each_row_is_in_the_results_once(
    db, history, batch_worker, model_version, breast_cancer_table, api, settings
):
    settings.BATCH_CHUNK_ROWS = 15_000
    table, _ = breast_cancer_table
    # 45,000 rows: the table's 569 again and again, each with an id of its own.
    one = table_csv(table, rows=len(table), newline="\n").decode().splitlines()
    header, rows = one[0], one[1:]
    lines = [header] + [f"row-{n:06d}," + rows[n % len(rows)].split(",", 1)[1] for n in range(45_000)]
    submitted = upload(api, ("\n".join(lines) + "\n").encode(), model="breast_cancer", key_column="id")
    assert submitted.status_code == 202, submitted.json()
    batch_id = submitted.json()["id"]

    deadline = time.monotonic() + 60
    while (running := history.BatchChunk.objects(batch_id=batch_id, status="running").first()) is None:
        assert time.monotonic() < deadline, "no chunk started"
        time.sleep(0.005)
    os.kill(running.worker_pid, signal.SIGKILL)  # the pool process scoring it, mid-chunk

    done = wait_batch(api, batch_id)
    assert done["status"] == "succeeded", done
    assert done["rows"]["done"] == 45_000
    # The chunk it was scoring ran again (the kill lands a millisecond after the chunk was
    # seen running, in a chunk of some 300 ms).
    assert history.BatchChunk.objects.get(id=running.id).attempts == 2
    body = b"".join(api.get(done["urls"]["results"]).streaming_content).decode()
    keys = [line[0] for line in csv.reader(io.StringIO(body))][1:]
    assert keys == [f"row-{n:06d}" for n in range(45_000)]


@pytest.mark.django_db(transaction=True)
def test_a_batch_calls_its_webhook_once_it_ends_signed_as_a_predictions(
    history, batch_worker, webhook_worker, model_version, breast_cancer_table, api, receiver, make_user
):
    from tests.test_prediction_api import _verify

    secret = api.get("/api/v1/webhooks/default/secret/").json()["key"]
    receiver.statuses = [503]  # the first delivery fails and is retried
    url = f"http://127.0.0.1:{receiver.server_port}/batch-hook"
    table, _ = breast_cancer_table
    submitted = upload(api, table_csv(table, rows=60), model="breast_cancer", key_column="id", webhook=url)
    assert submitted.status_code == 202, submitted.json()
    batch_id = submitted.json()["id"]
    assert submitted.json()["webhook"] == url
    assert get_db()["batch_uploads"].count_documents({}) == 0  # the upload is the batch's

    deadline = time.monotonic() + 60
    while len(receiver.calls) < 2:
        assert time.monotonic() < deadline, receiver.calls
        time.sleep(0.1)
    for headers, body in receiver.calls:
        headers = {name.lower(): value for name, value in headers.items()}
        assert _verify(secret, headers, body)
        assert headers["webhook-id"] == f"msg_{batch_id}_completed"
        announced = json.loads(body)
        assert announced["id"] == batch_id
        assert announced["status"] == "succeeded"
        assert announced["rows"]["done"] == 60
        assert announced["urls"]["results"] == f"{BATCHES}{batch_id}/results/"
    # Out of the outbox once handed over: the resend sweep leaves it alone.
    assert history.BatchJob.objects.get(id=batch_id).webhook_unsent is None
    deliveries, deadline = [], time.monotonic() + 15
    while len(deliveries) < 2:
        assert time.monotonic() < deadline, deliveries
        deliveries = api.get(f"{BATCHES}{batch_id}/webhooks/").json()["results"]
        time.sleep(0.1)
    assert [(d["attempt"], d["status_code"], d["event"]) for d in deliveries] == [
        (1, 503, "completed"),
        (2, 200, "completed"),
    ]
    # Nobody else's: another user's request is a 404.
    assert client_for(make_user("mallory")).get(f"{BATCHES}{batch_id}/webhooks/").status_code == 404


def test_a_batch_webhook_that_may_not_be_called_is_refused_and_nothing_is_stored(
    db, history, model_version, breast_cancer_table, api, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    table, _ = breast_cancer_table
    for url in ("http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "ftp://example.com/hook"):
        answer = upload(api, table_csv(table, rows=5), model="breast_cancer", webhook=url)
        assert answer.status_code == 400, (url, answer.json())
        assert "webhook" in answer.json()["fields"], answer.json()
    assert stored_files() == 0
    assert history.BatchJob.objects.count() == 0
    assert get_db()["batch_uploads"].count_documents({}) == 0  # no upload left marked under way


def test_the_list_shows_each_batch_as_its_own_page_does(
    db, history, batch_worker, model_version, breast_cancer_table, api, settings
):
    # The list reads every listed batch's chunks in one query (history.chunks_of).
    settings.BATCH_CHUNK_ROWS = 7
    table, _ = breast_cancer_table
    ids = []
    for rows, bad in ((20, {}), (31, {4: ("mean_radius", "abc")}), (9, {0: ("worst_area", "")})):
        answer = upload(api, table_csv(table, rows=rows, bad=bad), model="breast_cancer")
        assert answer.status_code == 202, answer.json()
        ids.append(answer.json()["id"])
    details = {batch_id: wait_batch(api, batch_id) for batch_id in ids}
    listed = {item["id"]: item for item in api.get(BATCHES).json()["results"]}
    assert list(listed) == ids[::-1]  # the newest first
    for batch_id, detail in details.items():
        assert {key: listed[batch_id][key] for key in ("rows", "chunks", "labels", "status")} == {
            key: detail[key] for key in ("rows", "chunks", "labels", "status")
        }
    assert [details[batch_id]["rows"]["failed"] for batch_id in ids] == [0, 1, 1]
