"""The job page without JavaScript: it reloads itself while unfinished and its Cancel is a
plain form; with htmx, the same views answer with the live part only."""


def test_an_unfinished_job_page_reloads_itself_and_asks_for_its_live_part(ada, ada_client, stored_job):
    job = stored_job(owner=ada)
    page = ada_client.get(f"/history/{job.id}/").content.decode()
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert f'hx-get="/history/{job.id}/?part=live"' in page
    assert f'<form method="post" action="/history/{job.id}/cancel/"' in page


def test_a_finished_job_page_neither_reloads_nor_polls(ada, ada_client, stored_job):
    job = stored_job(owner=ada, status="failed", error="prediction failed: boom")
    page = ada_client.get(f"/history/{job.id}/").content.decode()
    assert "refresh" not in page
    assert "hx-trigger" not in page
    assert "prediction failed: boom" in page


def test_cancel_as_a_plain_form_goes_back_to_the_job_page(history, ada, ada_client, stored_job):
    job = stored_job(owner=ada)
    response = ada_client.post(f"/history/{job.id}/cancel/")
    assert (response.status_code, response["Location"]) == (302, f"/history/{job.id}/")
    assert history.job_get(job.id).status == "canceled"


def test_cancel_from_htmx_answers_with_the_live_part_now_canceled(history, ada, ada_client, stored_job):
    job = stored_job(owner=ada)
    response = ada_client.post(f"/history/{job.id}/cancel/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="job-live" data-status="canceled"')
    assert "<html" not in body
    assert "hx-trigger" not in body


def test_nobody_cancels_another_users_job(history, ada_client, stored_job):
    job = stored_job()  # alice's
    assert ada_client.post(f"/history/{job.id}/cancel/").status_code == 404
    assert history.job_get(job.id).status == "queued"
