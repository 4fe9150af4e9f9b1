"""Feedback: the true label of a succeeded prediction, kept (once per row) as a training sample."""

from datetime import timedelta

import pytest

from tests.clients import client_for


@pytest.fixture
def make_job(history, stored_job):
    """A breast_cancer job written straight to the history and finished as asked; no worker."""

    def make(*, status="succeeded", owner=None, input=None, inputs=None):
        job = stored_job(owner=owner, create={"input": input, "inputs": inputs})
        if status != "queued":
            output = {"label": "malignant"} if inputs is None else [{"label": "malignant"}] * len(inputs)
            history.job_finish(job.id, status=status, output=output if status == "succeeded" else None)
        return history.job_get(job.id)

    return make


@pytest.fixture
def second_row(valid_input) -> dict:
    return {**valid_input, "mean_radius": valid_input["mean_radius"] + 1.0}


def send(client, job_id: str, body):
    return client.post(f"/api/v1/predictions/{job_id}/feedback/", body, format="json")


def test_it_keeps_the_label_as_a_feedback_sample(history, api, user, make_job, valid_input):
    job = make_job(input=valid_input)
    response = send(api, job.id, {"label": "benign"})
    assert response.status_code == 201
    assert response.json() == {"prediction": job.id, "index": 0, "model": "breast_cancer", "label": "benign"}
    [sample] = history.LabelledSample.objects
    assert sample.source == "feedback"
    assert (sample.job_id, sample.row) == (job.id, 0)
    assert sample.model == "breast_cancer"
    assert sample.features == valid_input
    assert sample.label == "benign"
    assert sample.created_by == user.pk


def test_sending_it_again_replaces_the_label(history, api, make_job, valid_input):
    job = make_job(input=valid_input)
    assert send(api, job.id, {"label": "benign"}).status_code == 201
    first = history.LabelledSample.objects.get(job_id=job.id)
    response = send(api, job.id, {"label": "malignant"})
    assert response.status_code == 201
    assert response.json()["label"] == "malignant"
    [sample] = history.LabelledSample.objects
    assert sample.label == "malignant"
    assert (sample.id, sample.created_at, sample.batch_id) == (first.id, first.created_at, first.batch_id)


def test_it_feeds_the_next_training(history, api, make_job, valid_input):
    job = make_job(input=valid_input)
    send(api, job.id, {"label": "benign"})
    [sample] = history.samples_for("breast_cancer")
    assert (sample.features, sample.label) == (valid_input, "benign")
    assert history.samples_for("iris") == []


@pytest.mark.parametrize("label", ["maybe", "Benign", 1, True, None, ["benign"]])
def test_it_rejects_a_label_that_is_not_a_class(history, api, make_job, valid_input, label):
    job = make_job(input=valid_input)
    response = send(api, job.id, {"label": label})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["label"]
    if label is not None:
        assert "benign" in body["fields"]["label"][0]
        assert "malignant" in body["fields"]["label"][0]
    assert history.LabelledSample.objects.count() == 0


@pytest.mark.parametrize("body", [{}, {"index": 0}, []], ids=["empty", "no-label", "not-an-object"])
def test_it_requires_a_label(history, api, make_job, valid_input, body):
    job = make_job(input=valid_input)
    response = send(api, job.id, body)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields
    assert set(fields) <= {"label", "non_field_errors"}
    assert history.LabelledSample.objects.count() == 0


@pytest.mark.parametrize("status", ["queued", "running", "failed", "canceled"])
def test_only_a_succeeded_job_takes_feedback(history, api, make_job, valid_input, status):
    job = make_job(input=valid_input, status="queued" if status == "running" else status)
    if status == "running":
        history.job_claim(job.id)
    assert history.job_get(job.id).status == status
    response = send(api, job.id, {"label": "benign"})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["status"]
    assert status in fields["status"][0]
    assert history.LabelledSample.objects.count() == 0


def test_a_batch_needs_the_row_index(history, api, make_job, valid_input, second_row):
    job = make_job(inputs=[valid_input, second_row])
    response = send(api, job.id, {"label": "benign"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["index"]
    assert history.LabelledSample.objects.count() == 0


@pytest.mark.parametrize("index", [2, 99, -1])
def test_it_rejects_an_index_out_of_range(history, api, make_job, valid_input, second_row, index):
    job = make_job(inputs=[valid_input, second_row])
    response = send(api, job.id, {"label": "benign", "index": index})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["index"]
    assert history.LabelledSample.objects.count() == 0


def test_a_single_row_job_has_only_index_zero(history, api, make_job, valid_input):
    job = make_job(input=valid_input)
    assert send(api, job.id, {"label": "benign", "index": 1}).status_code == 400
    assert history.LabelledSample.objects.count() == 0
    assert send(api, job.id, {"label": "benign", "index": 0}).status_code == 201


def test_it_labels_the_chosen_row_of_a_batch(history, api, make_job, valid_input, second_row):
    job = make_job(inputs=[valid_input, second_row])
    response = send(api, job.id, {"label": "benign", "index": 1})
    assert response.status_code == 201
    assert response.json()["index"] == 1
    [sample] = history.LabelledSample.objects
    assert (sample.row, sample.features, sample.label) == (1, second_row, "benign")

    assert send(api, job.id, {"label": "malignant", "index": 0}).status_code == 201
    stored = {s.row: (s.features, s.label) for s in history.LabelledSample.objects(job_id=job.id)}
    assert stored == {0: (valid_input, "malignant"), 1: (second_row, "benign")}


def test_it_returns_404_for_another_users_job(history, api, make_job, make_user, valid_input):
    theirs = make_job(input=valid_input, owner=make_user("mallory"))
    response = send(api, theirs.id, {"label": "benign"})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No prediction with this id."}
    assert history.LabelledSample.objects.count() == 0


@pytest.mark.parametrize("job_id", ["0b6c5d1e-0000-4000-8000-000000000000", "not-a-uuid"])
def test_it_returns_404_for_an_unknown_job(history, api, model_version, job_id):
    response = send(api, job_id, {"label": "benign"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_requires_a_token(history, make_job, valid_input):
    from rest_framework.test import APIClient

    job = make_job(input=valid_input)
    assert send(APIClient(), job.id, {"label": "benign"}).status_code == 401
    assert history.LabelledSample.objects.count() == 0


@pytest.fixture
def diabetes_job(history, user):
    """A succeeded job of the regression model (diabetes v1)."""
    from tests.shipped import features, register

    version = register("diabetes")
    row = {name: float(value) for name, value in features("diabetes").iloc[0].items()}
    job = history.job_create(
        owner_id=user.pk,
        model="diabetes",
        version=version.number,
        artifact_sha256=version.artifact_sha256,
        sklearn_version=version.sklearn_version,
        input=row,
    )
    history.job_finish(job.id, status="succeeded", output={"value": 180.5})
    return history.job_get(job.id)


@pytest.mark.parametrize("label", [151.0, 151, -2.5])
def test_a_regressor_takes_a_number(history, api, diabetes_job, label):
    assert diabetes_job.version == 1
    response = send(api, diabetes_job.id, {"label": label})
    assert response.status_code == 201
    [sample] = history.LabelledSample.objects
    assert (sample.model, sample.label, sample.features) == ("diabetes", label, diabetes_job.input)


# 10**400: a JSON whole number no float holds (float() of it raises OverflowError).
@pytest.mark.parametrize(
    "label",
    [
        "151",
        "high",
        True,
        None,
        {"value": 1},
        pytest.param(10**400, id="10**400"),
        pytest.param(-(10**400), id="-10**400"),
    ],
)
def test_a_regressor_rejects_anything_but_a_number(history, api, diabetes_job, label):
    response = send(api, diabetes_job.id, {"label": label})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["label"]
    if label is not None:
        assert fields["label"] == ["Must be a finite number."]
    assert history.LabelledSample.objects.count() == 0


def test_another_user_cannot_overwrite_my_feedback(history, api, make_job, make_user, valid_input):
    job = make_job(input=valid_input)
    send(api, job.id, {"label": "benign"})
    assert send(client_for(make_user("mallory")), job.id, {"label": "malignant"}).status_code == 404
    assert history.LabelledSample.objects.get(job_id=job.id).label == "benign"


def test_one_user_cannot_flood_the_training_data_past_the_daily_quota(
    history, api, make_job, make_user, valid_input, second_row, settings
):
    settings.FEEDBACK_DAILY_QUOTA = 3
    batch = make_job(inputs=[valid_input, second_row, valid_input, second_row])
    for index in range(3):
        assert send(api, batch.id, {"index": index, "label": "benign"}).status_code == 201

    refused = send(api, batch.id, {"index": 3, "label": "benign"})

    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "quota_exceeded"
    assert "3 labels in the last 24 hours" in body["message"]
    assert 0 < body["retry_after_s"] <= 24 * 3600
    assert int(refused["Retry-After"]) == body["retry_after_s"]
    assert history.LabelledSample.objects.count() == 3
    # Correcting a label already given adds no sample: it is still allowed.
    assert send(api, batch.id, {"index": 0, "label": "malignant"}).status_code == 201
    # The quota is per user: another user's feedback is still taken.
    bob = make_user("bob")
    assert (
        send(client_for(bob), make_job(owner=bob, input=valid_input).id, {"label": "benign"}).status_code
        == 201
    )


def test_labels_older_than_a_day_leave_the_quota(history, api, make_job, valid_input, settings):
    settings.FEEDBACK_DAILY_QUOTA = 1
    first, second = make_job(input=valid_input), make_job(input=valid_input)
    assert send(api, first.id, {"label": "benign"}).status_code == 201
    assert send(api, second.id, {"label": "benign"}).status_code == 429
    history.LabelledSample.objects.update(set__created_at=history.now() - timedelta(days=1, seconds=1))

    assert send(api, second.id, {"label": "benign"}).status_code == 201


def test_a_job_whose_version_was_deleted_takes_no_feedback(history, api, make_job, valid_input):
    from predictor.models import ModelVersion

    job = make_job(input=valid_input)
    ModelVersion.objects.filter(model__name=job.model, number=job.version).delete()
    response = send(api, job.id, {"label": "benign"})
    assert response.status_code == 400
    assert response.json()["fields"] == {
        "label": [f"breast_cancer v{job.version} no longer exists; it takes no feedback."]
    }
    assert history.LabelledSample.objects.count() == 0
