"""The caller's history: filters, newest first, cursor pages that keep the filters, CSV export."""

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sklearn

from tests.clients import client_for

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
HEADER = (
    '"id","model","version","status","created_at","started_at","completed_at",'
    '"queue_s","predict_s","total_s","input","output","error"'
)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def make_job(history, user):
    """A job written straight to the history, with the status and times a test needs."""

    def make(*, owner=None, model="breast_cancer", version=1, status="queued", created_at=T0, **times):
        job = history.job_create(
            owner_id=(owner or user).pk,
            model=model,
            version=version,
            artifact_sha256="0" * 64,
            sklearn_version=sklearn.__version__,
            input={"x": 1.0},
        )
        history.PredictionJob.objects(id=job.id).update_one(
            set__status=status, set__created_at=created_at, **{f"set__{k}": v for k, v in times.items()}
        )
        return job.id

    return make


def ids_of(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [job["id"] for job in response.json()["results"]]


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_it_lists_newest_first(api, make_job):
    middle = make_job(created_at=T0)
    oldest = make_job(created_at=T0 - timedelta(hours=1))
    newest = make_job(created_at=T0 + timedelta(hours=1))
    assert ids_of(api.get("/api/v1/predictions/")) == [newest, middle, oldest]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"model": "iris"}, ["iris-v2", "iris-v1"]),
        ({"version": 2}, ["iris-v2", "cancer-v2-failed"]),
        ({"status": "failed"}, ["cancer-v2-failed"]),
        ({"model": "iris", "version": 1}, ["iris-v1"]),
        ({"model": "breast_cancer", "status": "queued"}, ["cancer-v1"]),
        ({"model": "wine"}, []),
    ],
)
def test_it_filters_by_model_version_and_status(api, make_job, query, expected):
    jobs = {
        "cancer-v1": make_job(created_at=T0),
        "cancer-v2-failed": make_job(version=2, status="failed", created_at=T0 + timedelta(minutes=1)),
        "iris-v1": make_job(model="iris", status="succeeded", created_at=T0 + timedelta(minutes=2)),
        "iris-v2": make_job(model="iris", version=2, created_at=T0 + timedelta(minutes=3)),
    }
    assert ids_of(api.get("/api/v1/predictions/", query)) == [jobs[name] for name in expected]


def test_it_filters_by_creation_time_with_created_before_exclusive(api, make_job):
    at = [make_job(created_at=T0 + timedelta(minutes=n)) for n in range(5)]
    window = {
        "created_after": stamp(T0 + timedelta(seconds=30)),
        "created_before": stamp(T0 + timedelta(minutes=3)),
    }
    assert ids_of(api.get("/api/v1/predictions/", window)) == [at[2], at[1]]
    after = api.get("/api/v1/predictions/", {"created_after": stamp(T0 + timedelta(minutes=2, seconds=1))})
    assert ids_of(after) == [at[4], at[3]]
    before = api.get("/api/v1/predictions/", {"created_before": "2024-03-01T13:02:00+01:00"})
    assert ids_of(before) == [at[1], at[0]], "an offset is honoured: 13:02+01:00 is 12:02Z, exclusive"


@pytest.mark.parametrize("query", [{}, {"model": "breast_cancer"}])
def test_created_after_includes_a_job_created_at_that_instant(api, make_job, query):
    at = [make_job(created_at=T0 + timedelta(minutes=n)) for n in range(3)]
    response = api.get("/api/v1/predictions/", {**query, "created_after": stamp(T0 + timedelta(minutes=1))})
    assert ids_of(response) == [at[2], at[1]]


def test_it_filters_jobs_submitted_through_the_api(
    history, api, model_version, trained_breast_cancer, valid_input
):
    from predictor.registry import version_register

    result, sha256 = trained_breast_cancer
    version_register(model_version.model, result, artifact_sha256=sha256, sklearn_version=sklearn.__version__)
    submit = lambda body: api.post("/api/v1/predictions/", body, format="json")  # noqa: E731
    champion = [submit({"model": "breast_cancer", "input": valid_input}).json()["id"] for _ in range(2)]
    pinned = submit({"model": "breast_cancer", "version": 2, "input": valid_input}).json()["id"]
    # Terminal statuses, set directly: a live worker started by an earlier test may take these
    # jobs, but it never overwrites a finished one.
    history.PredictionJob.objects(id=champion[0]).update_one(set__status="succeeded")
    history.PredictionJob.objects(id__in=[champion[1], pinned]).update(set__status="canceled")

    def newest_first(ids):  # two submits may share a millisecond; the id breaks the tie
        return [
            j.id
            for j in sorted(history.PredictionJob.objects(id__in=ids), key=lambda j: (j.created_at, j.id))
        ][::-1]

    assert ids_of(api.get("/api/v1/predictions/", {"version": 2})) == [pinned]
    assert ids_of(api.get("/api/v1/predictions/", {"version": 1})) == newest_first(champion)
    assert ids_of(api.get("/api/v1/predictions/", {"status": "canceled"})) == newest_first(
        [pinned, champion[1]]
    )
    assert ids_of(api.get("/api/v1/predictions/", {"status": "succeeded", "model": "breast_cancer"})) == [
        champion[0]
    ]


def test_pages_keep_the_filters_and_cover_every_match_once(history, api, make_job):
    # Ties on created_at straddle the page boundaries: the cursor breaks them by id.
    iris = [make_job(model="iris", created_at=T0 + timedelta(seconds=n // 2)) for n in range(7)]
    for n in range(7):
        make_job(model="wine", created_at=T0 + timedelta(seconds=n // 2))
    stored = history.PredictionJob.objects(id__in=iris)
    expected = [job.id for job in sorted(stored, key=lambda job: (job.created_at, job.id), reverse=True)]

    seen, url, pages = [], "/api/v1/predictions/?model=iris&limit=2", 0
    while url:
        body = api.get(url).json()
        seen += [job["id"] for job in body["results"]]
        assert all(job["model"] == "iris" for job in body["results"])
        url, pages = body["next"], pages + 1
        if url:
            query = parse_qs(urlsplit(url).query)
            assert query["model"] == ["iris"]
            assert query["limit"] == ["2"]
            assert query["cursor"] == [body["next_cursor"]]
    assert seen == expected
    assert pages == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("version=0", "version"),
        ("version=one", "version"),
        ("created_after=notadate", "created_after"),
        ("created_before=2024-13-01", "created_before"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("format=xml", "format"),
        ("model=" + "m" * 65, "model"),
    ],
)
def test_it_rejects_bad_filters_naming_the_field(api, make_job, query, field):
    make_job()
    response = api.get(f"/api/v1/predictions/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == [field]


def test_it_rejects_bad_filters_on_the_csv_export_too(api, make_job):
    make_job()
    response = api.get("/api/v1/predictions/?format=csv&status=bogus")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["status"]


def test_each_job_shows_its_timing_metrics(api, make_job):
    finished = make_job(
        status="succeeded",
        created_at=T0,
        started_at=T0 + timedelta(seconds=1.5),
        completed_at=T0 + timedelta(seconds=4),
    )
    queued = make_job(created_at=T0 - timedelta(minutes=1))
    jobs = {job["id"]: job for job in api.get("/api/v1/predictions/").json()["results"]}
    # No worker: these jobs were written here, not run (tests/test_pipeline.py checks a run one).
    assert jobs[finished]["metrics"] == {"queue_s": 1.5, "predict_s": 2.5, "total_s": 4.0, "worker": None}
    assert jobs[queued]["metrics"] == {"queue_s": None, "predict_s": None, "total_s": None, "worker": None}


def test_it_hides_other_users_jobs_from_the_list(api, make_job, make_user):
    mine = make_job()
    make_job(owner=make_user("mallory"), created_at=T0 + timedelta(minutes=1))
    assert ids_of(api.get("/api/v1/predictions/")) == [mine]


def test_it_exports_matching_jobs_as_csv(history, api, user, make_job, make_user):
    finished = make_job(
        status="succeeded",
        created_at=T0,
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=3),
    )
    history.PredictionJob.objects(id=finished).update_one(
        set__input={"mean_radius": 17.99},
        set__output={"label": "malignant", "probabilities": {"benign": 0.1}},
    )
    batch = history.job_create(
        owner_id=user.pk,
        model="breast_cancer",
        version=1,
        artifact_sha256="0" * 64,
        sklearn_version=sklearn.__version__,
        inputs=[{"a": 1.0}, {"a": 2.0}],
    ).id
    history.PredictionJob.objects(id=batch).update_one(set__created_at=T0 + timedelta(minutes=1))
    failed = make_job(status="failed", created_at=T0 + timedelta(minutes=2))
    history.PredictionJob.objects(id=failed).update_one(set__error="boom, with a comma")
    make_job(model="iris", created_at=T0 + timedelta(minutes=3))
    make_job(owner=make_user("mallory"), created_at=T0 + timedelta(minutes=4))

    response = api.get("/api/v1/predictions/", {"format": "csv", "model": "breast_cancer"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["id"] for row in rows] == [failed, batch, finished]
    by_id = {row["id"]: row for row in rows}
    done = by_id[finished]
    assert (done["model"], done["version"], done["status"]) == ("breast_cancer", "1", "succeeded")
    assert done["created_at"] == "2024-03-01T12:00:00Z"
    assert (done["queue_s"], done["predict_s"], done["total_s"]) == ("1.0", "2.0", "3.0")
    assert json.loads(done["input"]) == {"mean_radius": 17.99}
    assert json.loads(done["output"]) == {"label": "malignant", "probabilities": {"benign": 0.1}}
    assert done["error"] == ""
    assert json.loads(by_id[batch]["input"]) == [{"a": 1.0}, {"a": 2.0}]
    assert json.loads(by_id[batch]["output"]) is None
    assert by_id[failed]["error"] == "boom, with a comma"


def test_the_csv_export_respects_every_filter(api, make_job):
    make_job(created_at=T0)
    wanted = make_job(status="failed", version=2, created_at=T0 + timedelta(minutes=1))
    make_job(status="failed", version=2, created_at=T0 + timedelta(minutes=5))
    make_job(status="queued", version=2, created_at=T0 + timedelta(minutes=1))
    query = {
        "format": "csv",
        "status": "failed",
        "version": 2,
        "created_before": stamp(T0 + timedelta(minutes=5)),
    }
    assert [row["id"] for row in csv_rows(api.get("/api/v1/predictions/", query))] == [wanted]


def test_the_csv_export_of_nothing_is_just_the_header(api, make_job, make_user):
    make_job(owner=make_user("mallory"))
    response = api.get("/api/v1/predictions/?format=csv")
    text = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert text.splitlines() == [HEADER]


def test_a_long_export_has_every_job_exactly_once_newest_first(history, api, user, make_user):
    mallory = make_user("mallory")

    def job(owner, n):
        # Seven jobs share each timestamp, so ties straddle the 500-job chunk boundary.
        return history.PredictionJob(
            id=str(uuid.uuid4()),
            owner_id=owner.pk,
            model="breast_cancer",
            version=1,
            artifact_sha256="0" * 64,
            sklearn_version=sklearn.__version__,
            input={"n": float(n)},
            status="queued",
            created_at=T0 + timedelta(seconds=n // 7),
        )

    mine = [job(user, n) for n in range(523)]
    history.PredictionJob.objects.insert(mine + [job(mallory, n) for n in range(30)], load_bulk=False)
    expected = [j.id for j in sorted(mine, key=lambda j: (j.created_at, j.id), reverse=True)]

    rows = csv_rows(api.get("/api/v1/predictions/?format=csv"))
    assert len(rows) == 523
    assert [row["id"] for row in rows] == expected
    assert json.loads(rows[0]["input"])["n"] // 7 == 522 // 7
    assert json.loads(rows[-1]["input"])["n"] < 7


def test_another_users_client_exports_only_their_own(history, api, make_job, make_user):
    mine = make_job()
    other = make_user("mallory")
    theirs = make_job(owner=other)
    assert [row["id"] for row in csv_rows(client_for(other).get("/api/v1/predictions/?format=csv"))] == [
        theirs
    ]
    assert [row["id"] for row in csv_rows(api.get("/api/v1/predictions/?format=csv"))] == [mine]


@pytest.mark.parametrize(
    "created_at", ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59.999000"]
)
def test_a_cursor_at_the_ends_of_time_is_a_page_not_a_500(api, make_job, created_at):
    import base64

    job = make_job()
    cursor = base64.urlsafe_b64encode(f"{created_at}|x".encode()).decode().rstrip("=")

    response = api.get(f"/api/v1/predictions/?cursor={cursor}")

    # A page holds what is older than its cursor: nothing before the year 1, every job before 9999.
    assert ids_of(response) == ([job] if created_at.startswith("9999") else [])


def test_a_page_of_a_long_history_holds_the_newest_jobs_across_windows(api, history, user):
    # Jobs minutes and days apart: the page walks back through widening windows.
    from datetime import timedelta

    now = history.now()
    ages = [timedelta(seconds=s) for s in (0, 3, 40, 700, 5_000, 90_000, 3_000_000)]
    for n, age in enumerate(ages):
        history.job_create(
            owner_id=user.pk,
            model="breast_cancer",
            version=1,
            artifact_sha256="0" * 64,
            sklearn_version="1.9.1",
            input={"n": float(n)},
            job_id=f"job-{n}",
        )
        history.PredictionJob.objects(id=f"job-{n}").update_one(set__created_at=now - age)

    first = api.get("/api/v1/predictions/?limit=4").json()
    second = api.get(first["next"]).json()

    assert [job["id"] for job in first["results"]] == ["job-0", "job-1", "job-2", "job-3"]
    assert [job["id"] for job in second["results"]] == ["job-4", "job-5", "job-6"]
