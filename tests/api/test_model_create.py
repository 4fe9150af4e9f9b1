"""POST /api/v1/models/: a model defined on a dataset, checked whole against its profile,
its first training queued; private models invisible to everyone else."""

from importlib import resources

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictor.models import MLModel
from tests.clients import assert_error, client_for, model_builder_group

PENGUINS = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()
RAW = (resources.files("palmerpenguins") / "data" / "penguins-raw.csv").read_bytes()
FIELDS = ("code", "message", "fields")


@pytest.fixture
def builder(make_user):
    user = make_user("bea")
    user.groups.add(model_builder_group())
    return user


@pytest.fixture
def builder_api(builder, history, purged_queues):
    client = client_for(builder)

    def upload(name: str, data: bytes, **fields):
        response = client.post(
            "/api/v1/datasets/",
            {"name": name, "file": SimpleUploadedFile(f"{name}.csv", data), **fields},
            format="multipart",
        )
        assert response.status_code == 201, response.json()

    client.upload = upload
    return client


def create(client, **body):
    return client.post("/api/v1/models/", body, format="json")


def test_it_defines_a_model_and_queues_its_first_training(builder_api, history):
    builder_api.upload("penguins", PENGUINS)
    response = create(builder_api, name="penguin-species", dataset="penguins", target="species")

    assert response.status_code == 202, response.json()
    body = response.json()
    run = body["training"]
    assert response["Location"].endswith(f"/api/v1/trainings/{run['id']}/")
    assert run["model"] == "penguin-species"
    assert run["status"] == "queued"
    assert run["trigger"] == "create"
    model = body["model"]
    assert model["task"] == "multiclass_classification"
    assert model["primary_metric"] == "f1_macro"
    assert model["visibility"] == "private"
    assert model["owner"] == "bea"
    assert model["version"] is None
    definition = model["definition"]
    assert definition["dataset"]["name"] == "penguins"
    assert definition["dataset"]["version"] == 1
    assert definition["estimator"] == "auto"
    assert definition["features"] == [
        {"name": "island", "type": "category"},
        {"name": "bill_length_mm", "type": "number"},
        {"name": "bill_depth_mm", "type": "number"},
        {"name": "flipper_length_mm", "type": "number"},
        {"name": "body_mass_g", "type": "number"},
        {"name": "sex", "type": "category"},
        {"name": "year", "type": "number"},
    ]
    assert "multiclass_classification (auto" in body["notes"][0]
    assert history.TrainingRun.objects(model="penguin-species").count() == 1
    # Its owner sees its runs; nobody else does.
    assert builder_api.get(f"/api/v1/trainings/{run['id']}/").status_code == 200


def test_auto_takes_a_number_target_of_many_values_as_regression(builder_api):
    builder_api.upload("penguins", PENGUINS)
    response = create(
        builder_api, name="penguin-mass", dataset="penguins", target="body_mass_g", metric="mae"
    )
    assert response.status_code == 202, response.json()
    assert response.json()["model"]["task"] == "regression"
    assert response.json()["model"]["primary_metric"] == "mae"
    assert "2 rows without a target" in " ".join(response.json()["notes"])


def test_auto_takes_a_few_whole_numbers_as_classes(builder_api):
    builder_api.upload("penguins", PENGUINS)
    response = create(builder_api, name="penguin-year", dataset="penguins", target="year")
    assert response.json()["model"]["task"] == "multiclass_classification"


def test_a_constant_or_empty_column_is_dropped_with_a_note(builder_api):
    builder_api.upload("raw", RAW)
    features = ["Region", "Island", "Culmen Length (mm)", "Sex"]
    response = create(builder_api, name="raw-species", dataset="raw", target="Species", features=features)

    assert response.status_code == 202, response.json()
    assert [f["name"] for f in response.json()["model"]["definition"]["features"]] == [
        "Island",
        "Culmen Length (mm)",
        "Sex",
    ]
    assert any("'Region' dropped" in note and "same value" in note for note in response.json()["notes"])


def test_a_high_cardinality_category_is_refused_with_a_suggestion(builder_api, settings):
    settings.DATASET_MAX_CATEGORIES = 100
    builder_api.upload("raw", RAW)
    response = create(builder_api, name="raw-species", dataset="raw", target="Species")

    body = assert_error(response, 400, "invalid", keys=FIELDS)
    message = " ".join(body["fields"]["features"])
    assert "'Individual ID'" in message
    assert "leave it out" in message
    assert not MLModel.objects.filter(name="raw-species").exists()
    # Leaving it out (and the other free-text columns) is accepted.
    features = ["Island", "Clutch Completion", "Culmen Length (mm)", "Sex", "Comments"]
    ok = create(builder_api, name="raw-species", dataset="raw", target="Species", features=features)
    assert ok.status_code == 202, ok.json()


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({"target": "nope"}, "target", "No column 'nope'"),
        ({"target": "species", "features": ["island", "wings"]}, "features", "'wings'"),
        ({"target": "species", "features": ["species"]}, "features", "is the target"),
        ({"target": "species", "estimator": "ridge"}, "estimator", "Unknown for a classification"),
        ({"target": "species", "estimator": "svm"}, "estimator", "svm"),
        (
            {"target": "species", "estimator": "random_forest", "params": {"n_estimators": 0}},
            "params.n_estimators",
            "from 1 to 2000",
        ),
        (
            {"target": "species", "estimator": "random_forest", "params": {"gamma": 1}},
            "params.gamma",
            "Not a parameter",
        ),
        ({"target": "species", "params": {"C": 1}}, "params", "auto"),
        ({"target": "species", "metric": "rmse"}, "metric", "Not a metric"),
        ({"target": "island", "task": "regression"}, "task", "number target"),
        ({"target": "species", "dataset_version": 7}, "dataset_version", "no version 7"),
        ({"target": "species", "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field_and_records_nothing(
    builder_api, history, body, field, needle
):
    builder_api.upload("penguins", PENGUINS)
    response = create(builder_api, name="m", dataset="penguins", **body)

    found = assert_error(response, 400, "invalid", keys=FIELDS)["fields"]
    assert field in found, found
    assert needle in " ".join(found[field]), found
    assert not MLModel.objects.filter(name="m").exists()
    assert history.TrainingRun.objects(model="m").count() == 0


@pytest.mark.parametrize(
    ("csv", "needle"),
    [
        (b"x,y\n" + b"".join(b"%d,\n" % i for i in range(30)), "missing on every row"),
        (b"x,y\n" + b"".join(b"%d,a\n" % i for i in range(30)), "one class"),
        (b"x,y\n" + b"".join(b"%d,%s\n" % (i, b"a" if i < 27 else b"b") for i in range(30)), "fewer than"),
        (b"x,y\n1,a\n2,b\n3,a\n4,b\n", "at least 10"),
    ],
    ids=["target-missing", "one-class", "rare-class", "too-few-rows"],
)
def test_a_target_that_cannot_be_learned_is_refused(builder_api, csv, needle):
    builder_api.upload("t", csv)
    response = create(builder_api, name="m", dataset="t", target="y", task="classification")
    found = assert_error(response, 400, "invalid", keys=FIELDS)["fields"]
    assert needle in " ".join(found["target"]), found


def test_model_names_are_unique_platform_wide(builder_api, staff_api):
    builder_api.upload("penguins", PENGUINS, visibility="shared")
    assert create(staff_api, name="taken", dataset="penguins", target="species").status_code == 202
    response = create(builder_api, name="taken", dataset="penguins", target="species")
    assert "unique" in assert_error(response, 400, "invalid", keys=FIELDS)["fields"]["name"][0]


def test_creating_needs_the_model_builder_permission(api, builder_api):
    builder_api.upload("penguins", PENGUINS, visibility="shared")
    response = create(api, name="m", dataset="penguins", target="species")
    assert_error(response, 403, "permission_denied")


def test_a_private_model_is_404_everywhere_to_others_and_missing_from_lists(builder_api, api):
    builder_api.upload("penguins", PENGUINS)
    assert create(builder_api, name="secret", dataset="penguins", target="species").status_code == 202
    run_id = builder_api.get("/api/v1/trainings/").json()["results"][0]["id"]

    assert "secret" not in [m["name"] for m in api.get("/api/v1/models/").json()["results"]]
    assert "secret" in [m["name"] for m in builder_api.get("/api/v1/models/").json()["results"]]
    for path in (
        "/api/v1/models/secret/",
        "/api/v1/models/secret/versions/",
        f"/api/v1/trainings/{run_id}/",
        "/api/v1/datasets/penguins/",
    ):
        assert api.get(path).status_code == 404, path
    for path in ("/api/v1/models/secret/rollback/", "/api/v1/models/secret/versions/1/promote/"):
        assert api.post(path).status_code == 404, path
    assert api.delete("/api/v1/models/secret/").status_code == 404
    assert api.get("/api/v1/trainings/").json()["results"] == []
    # A prediction answers exactly as for a model that does not exist.
    hidden = api.post("/api/v1/predictions/", {"model": "secret", "input": {}}, format="json")
    missing = api.post("/api/v1/predictions/", {"model": "nothing", "input": {}}, format="json")
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["fields"]["model"][0].replace("secret", "X") == missing.json()["fields"]["model"][
        0
    ].replace("nothing", "X")


def test_a_shared_model_is_used_by_all_but_changed_only_by_its_owner_and_staff(builder_api, api, staff_api):
    builder_api.upload("penguins", PENGUINS)
    response = create(builder_api, name="open", dataset="penguins", target="species", visibility="shared")
    assert response.status_code == 202

    assert api.get("/api/v1/models/open/").status_code == 200
    assert_error(api.post("/api/v1/trainings/", {"model": "open"}, format="json"), 403, "permission_denied")
    assert_error(api.delete("/api/v1/models/open/"), 403, "permission_denied")
    assert_error(api.post("/api/v1/models/open/rollback/"), 403, "permission_denied")
    assert builder_api.post("/api/v1/trainings/", {"model": "open"}, format="json").status_code == 202
    assert staff_api.delete("/api/v1/models/open/").status_code == 204
    assert not MLModel.objects.filter(name="open").exists()


def test_another_users_private_dataset_cannot_be_used(builder_api, make_user):
    builder_api.upload("penguins", PENGUINS)
    other = make_user("cyd")
    other.groups.add(model_builder_group())
    response = create(client_for(other), name="m", dataset="penguins", target="species")
    assert_error(response, 404, "not_found")


def test_the_estimators_and_their_ranges_are_listed(api):
    body = api.get("/api/v1/estimators/").json()["results"]
    assert set(body) == {"logistic_regression", "ridge", "random_forest", "hist_gradient_boosting"}
    assert body["random_forest"]["params"]["n_estimators"] == {
        "type": "int",
        "min": 1,
        "max": 2000,
        "nullable": False,
    }
    assert body["ridge"]["tasks"] == ["regression"]


def test_a_dead_queue_leaves_no_model_behind(builder_api, history, monkeypatch):
    from kombu.exceptions import OperationalError

    import api.services

    builder_api.upload("penguins", PENGUINS)

    def refuse(run_id):
        raise OperationalError("Redis is down")

    monkeypatch.setattr(api.services, "training_enqueue", refuse)
    response = create(builder_api, name="m", dataset="penguins", target="species")
    assert_error(response, 503, "service_unavailable")
    assert not MLModel.objects.filter(name="m").exists()
    assert history.TrainingRun.objects(model="m").count() == 0
