from collections import OrderedDict

import sklearn

from predictor import inference
from predictor.artifacts import artifact_sign


def sign(sha256: str) -> str:
    return artifact_sign(sha256, sklearn_version=sklearn.__version__)


def test_it_loads_a_pipeline_once_per_process(trained_breast_cancer, monkeypatch):
    _, sha256 = trained_breast_cancer
    loads = []
    real_load = inference.artifact_load
    monkeypatch.setattr(inference, "_pipelines", OrderedDict())
    monkeypatch.setattr(inference, "artifact_load", lambda *a, **k: loads.append(a) or real_load(*a, **k))

    first = inference.pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=sign(sha256))
    second = inference.pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=sign(sha256))

    assert first is second
    assert len(loads) == 1


def test_it_answers_a_label_and_class_probabilities(trained_breast_cancer, valid_input):
    result, _ = trained_breast_cancer
    [output] = inference.predict_rows(result.pipeline, [valid_input], list(valid_input))
    assert output["label"] == "malignant"
    assert set(output["probabilities"]) == {"benign", "malignant"}
    assert abs(sum(output["probabilities"].values()) - 1) < 1e-5


def test_it_keeps_a_bounded_number_of_pipelines(trained_breast_cancer, monkeypatch):
    _, sha256 = trained_breast_cancer
    monkeypatch.setattr(inference, "_pipelines", OrderedDict((f"old{i}", object()) for i in range(16)))
    inference.pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=sign(sha256))
    assert len(inference._pipelines) == inference.MAX_CACHED_PIPELINES
    assert "old0" not in inference._pipelines
    assert next(reversed(inference._pipelines)) == sha256


def test_the_label_is_what_predict_says_for_every_shipped_classifier():
    from predictor.fitting import train
    from predictor.specs import SPECS

    classifiers = [spec for spec in SPECS.values() if spec.is_classifier]
    assert classifiers
    for spec in classifiers:
        result = train(spec)
        data = spec.load()
        names = list(data.feature_names)
        rows = [dict(zip(names, map(float, x), strict=True)) for x in data.X]
        labels = [output["label"] for output in inference.predict_rows(result.pipeline, rows, names)]
        assert labels == [str(label) for label in result.pipeline.predict(data.X)], spec.name
