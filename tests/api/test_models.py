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
        "nullable": False,
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


def test_the_versions_list_returns_each_versions_diagnostics(api, model_version):
    response = api.get("/api/v1/models/breast_cancer/versions/")

    assert response.status_code == 200
    [version] = response.json()["results"]
    diagnostics = version["diagnostics"]
    assert diagnostics == model_version.diagnostics
    assert diagnostics["confusion_matrix"]["labels"] == ["benign", "malignant"]
    assert sum(map(sum, diagnostics["confusion_matrix"]["matrix"])) == diagnostics["held_out_rows"] == 143


def test_the_versions_list_returns_a_regressors_diagnostics(api, db):
    from tests.shipped import register, shipped_train

    result = shipped_train("diabetes")
    register("diabetes", result, sha256="0" * 64)

    [version] = api.get("/api/v1/models/diabetes/versions/").json()["results"]

    assert version["diagnostics"] == result.diagnostics
    assert set(version["diagnostics"]["target"]) == {"min", "max", "mean", "std", "p05", "p50", "p95"}
    assert len(version["diagnostics"]["predicted_vs_actual"]["points"]) == 111


def test_a_version_trained_before_diagnostics_still_serializes(api, model_version):
    from api.serializers import ModelVersionSerializer
    from predictor.models import ModelVersion

    ModelVersion.objects.filter(pk=model_version.pk).update(diagnostics={})
    model_version.refresh_from_db()

    assert ModelVersionSerializer(model_version).data["diagnostics"] == {}
    response = api.get("/api/v1/models/breast_cancer/versions/")
    assert response.status_code == 200
    assert response.json()["results"][0]["diagnostics"] == {}


def test_the_schema_documents_both_diagnostics_shapes(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]

    def ref(node):
        return components[node["allOf"][0]["$ref"].rsplit("/", 1)[1]]

    diagnostics = ref(components["ModelVersion"]["properties"]["diagnostics"])
    # Every key is optional: a classifier's, a regressor's and an old version's {} all conform.
    assert "required" not in diagnostics
    assert set(diagnostics["properties"]) == {
        "held_out_rows",
        "confusion_matrix",
        "predicted_vs_actual",
        "target",
    }
    assert set(ref(diagnostics["properties"]["confusion_matrix"])["required"]) == {"labels", "matrix"}
    assert ref(diagnostics["properties"]["predicted_vs_actual"])["properties"]["points"]["maxItems"] == 300
    target = ref(diagnostics["properties"]["target"])
    assert set(target["required"]) == set("min max mean std p05 p50 p95".split())
