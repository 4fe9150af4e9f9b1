def test_it_lists_models_with_schema_version_and_metrics(api, model_version):
    response = api.get("/api/v1/models/")
    assert response.status_code == 200
    [model] = response.json()["results"]
    assert model["name"] == "breast_cancer"
    assert model["task"] == "binary_classification"
    assert model["version"] == 1
    assert model["primary_metric"] == "roc_auc"
    assert model["metrics"]["roc_auc"] > 0.95
    assert model["classes"] == ["benign", "malignant"]
    assert len(model["input_schema"]) == 30
    assert model["input_schema"][0] == {
        "name": "mean_radius",
        "type": "number",
        "min": model_version.feature_schema[0]["min"],
        "max": model_version.feature_schema[0]["max"],
    }


def test_it_shows_one_model_and_404s_an_unknown_one(api, model_version):
    assert api.get("/api/v1/models/breast_cancer/").json()["version"] == 1
    response = api.get("/api/v1/models/weather/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_serves_the_openapi_schema_without_a_token(db):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/predictions/" in paths
    assert "/api/v1/predictions/{job_id}/" in paths


def test_the_index_page_lists_the_serving_models(client, model_version):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>breast_cancer</code>" in page
    assert f"roc_auc = {model_version.metrics['roc_auc']}" in page
