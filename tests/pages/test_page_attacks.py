"""The pages refuse what the API refuses: anonymous reads of the registry, and floods."""

from api.services import version_promote_by


def test_the_models_page_needs_a_login(client, model_version):
    response = client.get("/models/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_models_page_never_names_the_staff_member_who_promoted(
    client, make_user, trained_breast_cancer, model_version
):
    import sklearn

    from predictor.registry import version_register

    result, sha256 = trained_breast_cancer
    version_register(model_version.model, result, artifact_sha256=sha256, sklearn_version=sklearn.__version__)
    version_promote_by(user=make_user("root-operator", is_staff=True), model_name="breast_cancer", number=2)
    client.force_login(make_user("ada"))

    page = client.get("/models/").content.decode()

    assert "promoted by staff" in page
    assert "root-operator" not in page


def test_the_predict_page_shares_the_apis_submit_limit(
    client, user, history, model_version, valid_input, monkeypatch
):
    from api.throttles import SubmitRateThrottle
    from tests.clients import client_for

    monkeypatch.setattr(SubmitRateThrottle, "THROTTLE_RATES", {"submit": "2/minute"})
    form = {"model": "breast_cancer", **{name: str(value) for name, value in valid_input.items()}}
    client.force_login(user)
    # One submit through the API, one through the page: the budget of two is spent.
    api = client_for(user)
    assert (
        api.post(
            "/api/v1/predictions/", {"model": "breast_cancer", "input": valid_input}, format="json"
        ).status_code
        == 202
    )
    assert client.post("/predict/", form).status_code == 302

    refused = client.post("/predict/", form)

    assert refused.status_code == 429
    assert "Too many predictions" in refused.content.decode()
    # Up to two windows: the sliding window counter's longest wait (api/throttles.py).
    assert 1 <= int(refused["Retry-After"]) <= 120
    assert history.PredictionJob.objects.count() == 2
