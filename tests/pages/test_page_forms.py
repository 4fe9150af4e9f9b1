"""Page form handling that needs no browser: refusals and who may do what."""


def _job(history, owner, model_version, valid_input, *, status="succeeded"):
    job = history.job_create(
        owner_id=owner.pk,
        model="breast_cancer",
        version=model_version.number,
        artifact_sha256=model_version.artifact_sha256,
        sklearn_version=model_version.sklearn_version,
        input=valid_input,
    )
    history.PredictionJob.objects(id=job.id).update_one(set__status=status)
    return job


def test_feedback_on_an_unfinished_job_is_refused_with_the_reason(
    client, history, user, model_version, valid_input
):
    client.force_login(user)
    job = _job(history, user, model_version, valid_input, status="queued")
    response = client.post(f"/history/{job.id}/feedback/", {"label": "benign"})
    assert response.status_code == 400
    assert "Only a succeeded prediction takes feedback" in response.content.decode()
    assert history.LabelledSample.objects.count() == 0


def test_feedback_with_an_unknown_label_is_refused(client, history, user, model_version, valid_input):
    client.force_login(user)
    job = _job(history, user, model_version, valid_input)
    response = client.post(f"/history/{job.id}/feedback/", {"label": "maybe"})
    assert response.status_code == 400
    assert "Must be one of" in response.content.decode()
    assert history.LabelledSample.objects.count() == 0


def test_another_users_job_page_and_feedback_are_404(
    client, history, user, make_user, model_version, valid_input
):
    job = _job(history, user, model_version, valid_input)
    client.force_login(make_user("mallory"))
    assert client.get(f"/history/{job.id}/").status_code == 404
    assert client.post(f"/history/{job.id}/feedback/", {"label": "benign"}).status_code == 404
    assert client.post(f"/history/{job.id}/cancel/").status_code == 404


def test_the_history_csv_page_exports_only_the_callers_jobs(
    client, history, user, make_user, model_version, valid_input
):
    mine = _job(history, user, model_version, valid_input)
    _job(history, make_user("mallory"), model_version, valid_input)
    client.force_login(user)
    response = client.get("/history.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(mine.id)
