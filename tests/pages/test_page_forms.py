"""Page form handling that needs no browser: refusals and who may do what."""


def test_feedback_on_an_unfinished_job_is_refused_with_the_reason(client, history, user, stored_job):
    client.force_login(user)
    job = stored_job(status="queued")
    response = client.post(f"/history/{job.id}/feedback/", {"label": "benign"})
    assert response.status_code == 400
    assert "Only a succeeded prediction takes feedback" in response.content.decode()
    assert history.LabelledSample.objects.count() == 0


def test_feedback_with_an_unknown_label_is_refused(client, history, user, stored_job):
    client.force_login(user)
    job = stored_job(status="succeeded")
    response = client.post(f"/history/{job.id}/feedback/", {"label": "maybe"})
    assert response.status_code == 400
    assert "Must be one of" in response.content.decode()
    assert history.LabelledSample.objects.count() == 0


def test_another_users_job_page_and_feedback_are_404(client, make_user, stored_job):
    job = stored_job(status="succeeded")
    client.force_login(make_user("mallory"))
    assert client.get(f"/history/{job.id}/").status_code == 404
    assert client.post(f"/history/{job.id}/feedback/", {"label": "benign"}).status_code == 404
    assert client.post(f"/history/{job.id}/cancel/").status_code == 404


def test_the_history_csv_page_exports_only_the_callers_jobs(client, user, make_user, stored_job):
    mine = stored_job(status="succeeded")
    stored_job(owner=make_user("mallory"), status="succeeded")
    client.force_login(user)
    response = client.get("/history.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f'"{mine.id}",')
