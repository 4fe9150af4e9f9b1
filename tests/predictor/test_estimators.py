"""predictor.estimators: the allow-list, its parameter ranges, and the one Pipeline each
model is, fitted on real mixed data (the Palmer penguins: categories and missing values)."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer

from predictor import estimators
from predictor.definitions import MULTICLASS, REGRESSION
from predictor.fitting import feature_schema
from predictor.frames import matrix, rows_matrix
from predictor.tabular import load_frame, profile_csv

FEATURES = [
    {"name": "island", "type": "category"},
    {"name": "bill_length_mm", "type": "number"},
    {"name": "flipper_length_mm", "type": "number"},
    {"name": "sex", "type": "category"},
]


@pytest.fixture(scope="module")
def penguins():
    from importlib import resources

    data = (resources.files("palmerpenguins") / "data" / "penguins.csv").read_bytes()
    import io

    profile = profile_csv(io.BytesIO(data))
    return load_frame(io.BytesIO(data), profile.columns)


def typed(frame):
    return [{**f, **s} for f, s in zip(FEATURES, feature_schema(FEATURES, frame), strict=True)]


@pytest.mark.parametrize("name", estimators.allowed(MULTICLASS))
def test_each_classifier_fits_mixed_data_and_predicts_unseen_and_missing_values(penguins, name):
    X = penguins[[f["name"] for f in FEATURES]]
    features = typed(X)
    pipeline = estimators.pipeline_build(features, estimator=name, task=MULTICLASS, params={})
    pipeline.fit(matrix(X, {0, 3}), penguins["species"].to_numpy(dtype=object))

    assert estimators.categorical_columns(pipeline) == {0, 3}
    rows = [
        {"island": "Biscoe", "bill_length_mm": 47.5, "flipper_length_mm": 215.0, "sex": "female"},
        {"island": "Atlantis", "bill_length_mm": None, "flipper_length_mm": 190.0, "sex": None},
    ]
    probabilities = pipeline.predict_proba(rows_matrix(pipeline, rows, [f["name"] for f in FEATURES]))
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1)
    assert pipeline.classes_[probabilities[0].argmax()] == "Gentoo"


def test_numbers_alone_make_a_plain_pipeline_with_an_imputer_only_when_needed(penguins):
    numbers = [{"name": "bill_length_mm", "type": "number", "nullable": True}]
    with_missing = estimators.pipeline_build(numbers, estimator="ridge", task=REGRESSION, params={})
    assert [name for name, _ in with_missing.steps] == ["impute", "scale", "model"]
    complete = [{"name": "bill_length_mm", "type": "number", "nullable": False}]
    plain = estimators.pipeline_build(complete, estimator="random_forest", task=REGRESSION, params={})
    assert [name for name, _ in plain.steps] == ["model"]
    assert not any(isinstance(step, ColumnTransformer) for _, step in plain.steps)
    assert estimators.categorical_columns(plain) == set()


def test_boosting_takes_every_category_natively_the_rarest_of_many_grouped():
    rng = np.random.default_rng(0)
    towns = np.array([f"t{i}" for i in range(400)], dtype=object)
    X = np.empty((3000, 3), dtype=object)
    X[:, 0] = rng.normal(size=3000)
    X[:, 1] = rng.choice(np.array(["red", "blue"], dtype=object), size=3000)
    X[:, 2] = towns[rng.zipf(1.5, size=3000) % 400]
    y = (X[:, 1] == "red").astype(float) + rng.normal(scale=0.1, size=3000)
    features = [
        {"name": "x", "type": "number"},
        {"name": "colour", "type": "category", "categories": ["blue", "red"]},
        {"name": "town", "type": "category", "categories": list(towns)},
    ]
    pipeline = estimators.pipeline_build(
        features, estimator="hist_gradient_boosting", task=REGRESSION, params={}
    )
    parts = {name: positions for name, _, positions in pipeline.named_steps["columns"].transformers}
    assert parts == {"number": [0], "native": [1, 2]}
    assert pipeline.named_steps["model"].categorical_features == [1, 2]

    pipeline.fit(X, y)
    encoded = pipeline.named_steps["columns"].transform(X)
    assert np.nanmax(encoded[:, 2]) <= estimators.NATIVE_CATEGORIES_MAX
    unseen = np.array([[0.0, "red", "atlantis"]], dtype=object)
    assert np.isnan(pipeline.named_steps["columns"].transform(unseen)[0, 2])
    assert pipeline.predict(unseen)[0] > 0.5


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("random_forest", {"n_estimators": 0}, "params.n_estimators"),
        ("random_forest", {"n_estimators": 10.5}, "params.n_estimators"),
        ("random_forest", {"n_estimators": True}, "params.n_estimators"),
        ("random_forest", {"max_depth": "deep"}, "params.max_depth"),
        ("hist_gradient_boosting", {"learning_rate": 2}, "params.learning_rate"),
        ("logistic_regression", {"alpha": 1}, "params.alpha"),
        ("logistic_regression", {"C": 10**400}, "params.C"),
    ],
)
def test_a_parameter_outside_its_range_is_refused_by_name(name, params, field):
    with pytest.raises(estimators.InvalidParams) as refused:
        estimators.params_validate(name, MULTICLASS, params)
    assert field in refused.value.errors


def test_parameters_in_range_are_typed():
    assert estimators.params_validate(
        "random_forest", MULTICLASS, {"n_estimators": 50.0, "max_depth": None}
    ) == {
        "n_estimators": 50,
        "max_depth": None,
    }


def test_a_linear_classifier_is_no_regressor():
    with pytest.raises(estimators.InvalidParams) as refused:
        estimators.estimator_check("logistic_regression", REGRESSION)
    assert "ridge" in refused.value.errors["estimator"][0]


def test_a_default_forest_is_bounded_in_size_however_many_rows_it_learns_from():
    # Pure noise: fully grown trees would keep about one leaf per few rows.
    rng = np.random.default_rng(0)
    rows = 12_000
    X = rng.normal(size=(rows, 4))
    y = rng.normal(size=rows)
    features = [{"name": f"x{i}", "type": estimators.NUMBER} for i in range(4)]
    bounded = estimators.pipeline_build(
        features, estimator="random_forest", task=REGRESSION, params={"n_estimators": 3}
    ).fit(X, y)
    grown = estimators.pipeline_build(
        features,
        estimator="random_forest",
        task=REGRESSION,
        params={"n_estimators": 3, "max_leaf_nodes": None},
    ).fit(X, y)
    leaves = [tree.get_n_leaves() for tree in bounded[-1].estimators_]
    assert leaves == [estimators.FOREST_MAX_LEAF_NODES] * 3
    assert min(tree.get_n_leaves() for tree in grown[-1].estimators_) > 2 * estimators.FOREST_MAX_LEAF_NODES
