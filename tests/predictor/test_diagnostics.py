"""predictor.fitting diagnostics: computed on the held-out split when a version is
trained, and stored with it by the registry."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from predictor.fitting import MAX_POINTS, HeldOut, diagnostics, split
from predictor.frames import model_input
from predictor.models import ModelVersion
from predictor.shipped import shipped_definition
from tests.shipped import register, shipped_train, table


def significant(value: float) -> float:
    return float(f"{value:.6g}")


@pytest.fixture(scope="module")
def regressor():
    return shipped_train("diabetes")


def split_of(result):
    """(X_train, y_train, held_out, rows_dropped) of the result's definition on its table."""
    return split(result.definition, table(result.definition.name))


@pytest.mark.parametrize("name", ["breast_cancer", "iris", "wine"])
def test_a_classifiers_confusion_matrix_counts_its_held_out_rows(name):
    result = shipped_train(name)
    held_out = split_of(result)[2]
    diag = result.diagnostics

    assert set(diag) == {"held_out_rows", "confusion_matrix"}
    assert diag["held_out_rows"] == len(held_out.y)
    assert diag["confusion_matrix"]["labels"] == result.classes
    matrix = diag["confusion_matrix"]["matrix"]
    assert len(matrix) == len(result.classes)
    assert all(len(row) == len(result.classes) and all(type(n) is int for n in row) for row in matrix)
    assert sum(map(sum, matrix)) == diag["held_out_rows"]
    # Row i: the held-out rows whose true label is labels[i].
    for label, row in zip(result.classes, matrix, strict=True):
        assert sum(row) == int((held_out.y == label).sum())
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    assert correct / diag["held_out_rows"] == pytest.approx(result.metrics["accuracy"], abs=1e-6)


def test_the_confusion_matrix_is_sklearns_with_true_labels_as_rows():
    result = shipped_train("iris")
    held_out = split_of(result)[2]
    predicted = result.pipeline.predict(model_input(result.pipeline, held_out.X))

    expected = skm.confusion_matrix(held_out.y, predicted, labels=result.pipeline.classes_)

    assert result.diagnostics["confusion_matrix"]["matrix"] == expected.tolist()
    assert not np.array_equal(expected, expected.T)  # so the orientation is really tested


def test_a_regressor_has_its_held_out_points_and_target_range(regressor):
    diag = regressor.diagnostics
    held_out = split_of(regressor)[2]

    assert set(diag) == {"held_out_rows", "predicted_vs_actual", "target"}
    assert diag["held_out_rows"] == len(held_out.y) == 111
    points = diag["predicted_vs_actual"]["points"]
    assert 0 < len(points) <= MAX_POINTS
    low, high = float(held_out.y.min()), float(held_out.y.max())
    for actual, predicted in points:
        assert type(actual) is float
        assert type(predicted) is float
        assert low <= actual <= high
    target = diag["target"]
    assert set(target) == {"min", "max", "mean", "std", "p05", "p50", "p95"}
    assert target["min"] <= target["p05"] <= target["p50"] <= target["p95"] <= target["max"]
    assert target["min"] <= target["mean"] <= target["max"]
    assert target["std"] > 0


def test_the_regressors_points_are_its_held_out_pairs_and_reproduce_its_rmse(regressor):
    held_out = split_of(regressor)[2]
    predicted = regressor.pipeline.predict(model_input(regressor.pipeline, held_out.X))

    # Fewer held-out rows than MAX_POINTS: every one, in order, rounded to 6 significant digits.
    assert regressor.diagnostics["predicted_vs_actual"]["points"] == [
        [significant(a), significant(p)] for a, p in zip(held_out.y, predicted, strict=True)
    ]
    rmse = math.sqrt(skm.mean_squared_error(held_out.y, predicted))
    assert rmse == pytest.approx(regressor.metrics["rmse"], abs=1e-6)


def test_the_target_range_is_of_the_training_rows(regressor):
    y_train = split_of(regressor)[1]

    target = regressor.diagnostics["target"]

    assert target["min"] == significant(y_train.min())
    assert target["max"] == significant(y_train.max())
    assert target["mean"] == significant(y_train.mean())
    assert target["p50"] == significant(np.median(y_train))


def test_the_target_range_includes_labelled_samples():
    X = split(shipped_definition("diabetes"), table("diabetes"))[0][:3]

    result = shipped_train("diabetes", samples=(X, np.array([1000.0, 1000.0, 1000.0])))

    assert result.samples_used == 3
    assert result.diagnostics["target"]["max"] == 1000.0
    # The held-out rows, and so the plot, are the same as without samples.
    assert result.diagnostics["held_out_rows"] == 111


def test_many_held_out_rows_are_subsampled_evenly_and_deterministically(regressor):
    _, y_train, held_out, _ = split_of(regressor)
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(held_out.y), size=1000)
    big = HeldOut(held_out.X.iloc[rows], held_out.y[rows])
    predicted = regressor.pipeline.predict(model_input(regressor.pipeline, big.X))

    diag = diagnostics(regressor.definition, regressor.pipeline, big, predicted, y_train)

    points = diag["predicted_vs_actual"]["points"]
    assert diag["held_out_rows"] == 1000
    assert len(points) == MAX_POINTS
    pairs = {(significant(a), significant(p)) for a, p in zip(big.y, predicted, strict=True)}
    assert all(tuple(point) in pairs for point in points)
    assert points[0] == [significant(big.y[0]), significant(predicted[0])]
    assert points[-1] == [significant(big.y[-1]), significant(predicted[-1])]
    assert diagnostics(regressor.definition, regressor.pipeline, big, predicted, y_train) == diag


def test_training_is_deterministic_in_its_diagnostics(regressor):
    assert shipped_train("diabetes").diagnostics == regressor.diagnostics


def test_the_registry_stores_the_diagnostics(db, regressor):
    version = register("diabetes", regressor, sha256="0" * 64)

    stored = ModelVersion.objects.get(pk=version.pk)
    assert stored.diagnostics == regressor.diagnostics
    assert stored.diagnostics["held_out_rows"] == 111


def test_a_version_registered_without_diagnostics_stores_an_empty_object(db, regressor):
    from dataclasses import replace

    version = register("diabetes", replace(regressor, diagnostics={}), sha256="0" * 64)

    assert ModelVersion.objects.get(pk=version.pk).diagnostics == {}
