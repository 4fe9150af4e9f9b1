"""Versions, promotion, rollback, uploads and training requests: who may, and what is checked."""

import pytest
import sklearn

from predictor.models import ModelVersion


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/trainings/", {"model": "breast_cancer"}),
        ("post", "/api/v1/models/breast_cancer/versions/2/promote/", None),
        ("post", "/api/v1/models/breast_cancer/rollback/", None),
        ("post", "/api/v1/models/breast_cancer/samples/", {"rows": []}),
    ],
)
def test_it_refuses_a_user_who_neither_owns_the_shared_model_nor_is_staff(
    history, api, two_versions, method, path, body
):
    assert two_versions[0].model.visibility == "shared"
    assert two_versions[0].model.owner_id is None
    response = getattr(api, method)(path, body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ModelVersion.objects.get(number=1).status == "champion"
    assert history.TrainingRun.objects.count() == 0


def test_a_user_who_does_not_own_the_shared_model_sees_none_of_its_training_runs(history, api, two_versions):
    run = history.training_create(model="breast_cancer", params={}, trigger="nightly")

    assert api.get("/api/v1/trainings/").json()["results"] == []
    assert api.get("/api/v1/trainings/", {"model": "breast_cancer"}).json()["results"] == []
    assert api.get(f"/api/v1/trainings/{run.id}/").status_code == 404


def test_it_lists_versions_newest_first_with_their_provenance(api, two_versions):
    body = api.get("/api/v1/models/breast_cancer/versions/").json()
    assert [(v["number"], v["status"]) for v in body["results"]] == [(2, "candidate"), (1, "champion")]
    assert body["results"][1]["library_versions"]["scikit-learn"] == sklearn.__version__
    assert body["results"][1]["training_rows"] == 426
    assert api.get("/api/v1/models/weather/versions/").status_code == 404


def test_staff_promotes_a_version_and_rolls_back(staff_api, two_versions):
    response = staff_api.post("/api/v1/models/breast_cancer/versions/2/promote/")
    assert response.status_code == 200
    assert response.json()["status"] == "champion"
    # Who did it is the admin's to see, not every user's: the reason names no one.
    assert response.json()["status_reason"] == "promoted by staff"
    assert "sam" not in response.json()["status_reason"]
    assert ModelVersion.objects.get(number=2).status_changed_by.username == "sam"
    assert ModelVersion.objects.get(number=1).status == "archived"

    response = staff_api.post("/api/v1/models/breast_cancer/rollback/")
    assert response.status_code == 200
    assert response.json()["number"] == 1
    assert {v.number: v.status for v in ModelVersion.objects.all()} == {1: "champion", 2: "archived"}


def test_rollback_with_no_earlier_champion_is_a_conflict(staff_api, model_version):
    response = staff_api.post("/api/v1/models/breast_cancer/rollback/")
    assert response.status_code == 409
    assert "no earlier champion" in response.json()["message"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/models/breast_cancer/versions/9/promote/", "breast_cancer has no version 9"),
        (f"/api/v1/models/breast_cancer/versions/{10**30}/promote/", "has no version"),
        ("/api/v1/models/nope/versions/1/promote/", "No model with this name"),
        ("/api/v1/models/nope/rollback/", "No model with this name"),
        ("/api/v1/models/nope/samples/", "No model with this name"),
    ],
)
def test_an_unknown_model_or_version_in_the_path_is_a_404(staff_api, model_version, url, message):
    response = staff_api.post(url, {"rows": []}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert message in response.json()["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"gamma": 1}, "params.gamma"),
        ({"C": -1}, "params.C"),
        ({"max_iter": 2.5}, "params.max_iter"),
        ({"C": "big"}, "params.C"),
        # Whole numbers no float holds: out of range, not an OverflowError.
        ({"max_iter": 10**400}, "params.max_iter"),
        ({"C": 10**400}, "params.C"),
    ],
)
def test_it_rejects_bad_training_params(history, staff_api, model_version, params, field):
    response = staff_api.post(
        "/api/v1/trainings/", {"model": "breast_cancer", "params": params}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert history.TrainingRun.objects.count() == 0


def test_it_rejects_training_an_unknown_model(history, staff_api):
    # A 404, as for a model the caller may not see (the two are not told apart).
    response = staff_api.post("/api/v1/trainings/", {"model": "weather"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "No model with this name" in response.json()["message"]
    assert history.TrainingRun.objects.count() == 0


def test_an_upload_with_one_bad_row_stores_nothing(history, staff_api, model_version, valid_input):
    rows = [
        {**valid_input, "label": "benign"},
        {**valid_input, "mean_radius": "x", "label": "benign"},
        {**valid_input, "label": "maybe"},
    ]
    response = staff_api.post("/api/v1/models/breast_cancer/samples/", {"rows": rows}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"rows[1].mean_radius", "rows[2].label"}
    assert "benign" in response.json()["fields"]["rows[2].label"][0]
    assert history.LabelledSample.objects.count() == 0


def _csv(valid_input, rows):
    header = ",".join([*valid_input, "label"])
    return "\n".join([header, *rows]) + "\n"


def test_a_csv_upload_names_bad_lines(history, staff_api, model_version, valid_input):
    good = ",".join([*(str(v) for v in valid_input.values()), "malignant"])
    bad_number = good.replace(str(valid_input["mean_radius"]), "abc", 1)
    too_short = ",".join(str(v) for v in list(valid_input.values())[:5])
    body = _csv(valid_input, [good, bad_number, good, too_short])
    response = staff_api.post("/api/v1/models/breast_cancer/samples/", body, content_type="text/csv")
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "line 3.mean_radius" in fields
    assert "line 5.label" in fields
    assert not any(key.startswith(("line 2", "line 4")) for key in fields)
    assert history.LabelledSample.objects.count() == 0


def test_a_good_csv_upload_stores_every_row(history, staff_api, model_version, valid_input):
    good = ",".join([*(str(v) for v in valid_input.values()), "benign"])
    response = staff_api.post(
        "/api/v1/models/breast_cancer/samples/", _csv(valid_input, [good] * 3), content_type="text/csv"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == 3
    stored = history.LabelledSample.objects.first()
    assert stored.label == "benign"
    assert stored.features == valid_input
    assert stored.source == "upload"


def test_each_model_publishes_its_schema(api, history):
    from predictor.training import model_train_and_register, shipped_defined

    for name in ("iris", "diabetes"):
        shipped_defined(name)
        model_train_and_register(name)
    iris = api.get("/api/v1/models/iris/").json()
    assert iris["task"] == "multiclass_classification"
    assert [f["name"] for f in iris["input_schema"]][:2] == ["sepal_length_cm", "sepal_width_cm"]
    diabetes = api.get("/api/v1/models/diabetes/").json()
    assert diabetes["primary_metric"] == "rmse"
    assert diabetes["classes"] is None


def test_staff_promote_and_roll_back_in_the_admin(client, make_user, two_versions):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    _, second = two_versions
    response = client.post(
        "/admin/predictor/modelversion/",
        {"action": "promote", "_selected_action": [second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ModelVersion.objects.get(number=2).status == "champion"
    client.post(
        "/admin/predictor/mlmodel/",
        {"action": "roll_back", "_selected_action": [second.model_id]},
        follow=True,
    )
    assert ModelVersion.objects.get(number=1).status == "champion"
    assert ModelVersion.objects.get(number=2).status == "archived"
