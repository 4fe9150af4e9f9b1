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


def test_the_history_page_filters_by_time_and_ignores_a_window_it_does_not_know(
    history, ada, ada_client, stored_job
):
    recent = stored_job(owner=ada, age_s=3600 + 60)  # an hour and a minute ago
    older = stored_job(owner=ada, age_s=8 * 86400)
    shown = {
        since: {
            job.id
            for job in (recent, older)
            if f"/history/{job.id}/" in ada_client.get(f"/history/?since={since}").content.decode()
        }
        for since in ("1h", "24h", "7d", "", "forever")
    }
    assert shown == {
        "1h": set(),
        "24h": {recent.id},
        "7d": {recent.id},
        "": {recent.id, older.id},
        "forever": {recent.id, older.id},
    }
    # The CSV download has the same filter.
    response = ada_client.get("/history.csv?since=24h")
    csv_text = b"".join(response.streaming_content).decode()
    assert recent.id in csv_text
    assert older.id not in csv_text


def test_a_jobs_page_lists_its_webhook_deliveries_but_its_live_part_does_not(
    history, ada, ada_client, stored_job, logged_deliveries
):
    hook = "https://hooks.example.com/done"
    job = stored_job(
        owner=ada, status="succeeded", create={"webhook": hook, "webhook_events_filter": ["completed"]}
    )
    logged_deliveries(job, [(None, "connection refused", 0.05), (204, None, 0.05)])
    page = ada_client.get(f"/history/{job.id}/").content.decode()
    section = page[page.index('<section id="webhook"') :]
    assert f"<code>{hook}</code> is told of: completed." in section
    rows = section.split("<tr>")[2:]
    assert len(rows) == 2
    assert "connection refused" in rows[0]
    assert ">1<" in rows[0]
    assert "HTTP 204" in rows[1]
    assert ">2<" in rows[1]
    assert 'id="webhook"' not in ada_client.get(f"/history/{job.id}/?part=live").content.decode()

    without = stored_job(owner=ada, status="succeeded")
    assert 'id="webhook"' not in ada_client.get(f"/history/{without.id}/").content.decode()
