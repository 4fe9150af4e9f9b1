"""predictor.fitting: training a shipped model's definition on its table, and registering what it
produced."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import sklearn

from predictor.fitting import split
from predictor.frames import model_input
from predictor.models import MLModel, ModelVersion
from predictor.registry import champion_get
from predictor.shipped import shipped_definition
from predictor.train_model import main
from predictor.training import model_train_and_register, shipped_defined
from tests.shipped import features, shipped_train, table

DEFINITION = shipped_definition("breast_cancer")


@pytest.fixture(scope="module")
def result():
    return shipped_train("breast_cancer")


def train_and_register(name: str):
    """The shipped model defined (where it is not yet), trained and registered."""
    shipped_defined(name)
    return model_train_and_register(name)


@pytest.fixture
def artifact_dir(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    return settings.ARTIFACT_DIR


def test_it_reports_the_binary_metrics_in_sensible_ranges(result):
    metrics = result.metrics

    assert set(metrics) == {"roc_auc", "accuracy", "f1", "log_loss"}
    assert all(type(value) is float for value in metrics.values())
    assert 0.95 < metrics["roc_auc"] <= 1.0
    assert 0.9 < metrics["accuracy"] <= 1.0
    assert 0.9 < metrics["f1"] <= 1.0
    assert 0.0 < metrics["log_loss"] < 0.3


def test_metrics_are_rounded_to_six_places(result):
    assert all(value == round(value, 6) for value in result.metrics.values())


def test_it_describes_the_30_input_features(result):
    schema = result.feature_schema
    names = [feature["name"] for feature in schema]

    assert len(schema) == 30
    assert names[0] == "mean_radius"
    assert "worst_concave_points" in names
    assert len(set(names)) == 30
    assert all(name == name.lower() and " " not in name for name in names)
    for feature in schema:
        assert set(feature) == {"name", "type", "nullable", "min", "max"}
        assert feature["type"] == "number"
        assert feature["nullable"] is False
        assert type(feature["min"]) is float
        assert type(feature["max"]) is float
        assert feature["min"] <= feature["max"]


def test_the_feature_schema_matches_the_dataset_columns(result):
    assert [feature["name"] for feature in result.feature_schema] == list(features("breast_cancer").columns)
    # The ranges are of the rows the pipeline was fitted on (the training split).
    X_train = split(DEFINITION, table("breast_cancer"))[0]
    mean_radius = result.feature_schema[0]
    assert mean_radius["min"] == pytest.approx(float(X_train["mean_radius"].min()))
    assert mean_radius["max"] == pytest.approx(float(X_train["mean_radius"].max()))


def test_it_classifies_into_benign_and_malignant(result):
    assert result.classes == ["benign", "malignant"]
    assert [str(c) for c in result.pipeline.classes_] == ["benign", "malignant"]
    X = model_input(result.pipeline, features("breast_cancer")[:20])
    assert set(result.pipeline.predict(X)) <= {"benign", "malignant"}


def test_it_uses_the_default_params(result):
    assert result.params == {"C": 1.0, "max_iter": 1000}
    assert result.pipeline.named_steps["model"].C == 1.0


def test_given_params_override_the_defaults():
    tuned = shipped_train("breast_cancer", {"C": 0.1})

    assert tuned.params == {"C": 0.1, "max_iter": 1000}
    assert tuned.pipeline.named_steps["model"].C == 0.1
    assert shipped_definition("breast_cancer").params == {"C": 1.0, "max_iter": 1000}


def test_training_is_deterministic(result):
    again = shipped_train("breast_cancer")

    assert again.metrics == result.metrics
    assert again.feature_schema == result.feature_schema
    assert again.training_rows == result.training_rows
    np.testing.assert_array_equal(
        again.pipeline.named_steps["model"].coef_, result.pipeline.named_steps["model"].coef_
    )


def test_the_held_out_rows_are_not_trained_on(result):
    assert len(table("breast_cancer")) == 569
    assert result.training_rows == 426
    # The scaler, fitted as part of the pipeline, saw the training rows only.
    assert result.pipeline.named_steps["scale"].n_samples_seen_ == 426


def test_the_first_registered_version_is_champion(db, artifact_dir, result):
    version = train_and_register("breast_cancer")

    assert version.number == 1
    assert version.status == ModelVersion.Status.CHAMPION
    assert version.status_reason == "first version of this model"
    assert version.sklearn_version == sklearn.__version__
    assert version.training_rows == 426
    assert version.metrics == result.metrics
    assert version.classes == ["benign", "malignant"]
    assert len(version.feature_schema) == 30
    assert len(version.artifact_sha256) == 64
    assert (Path(artifact_dir) / f"{version.artifact_sha256}.artifact").is_file()
    model = MLModel.objects.get(name="breast_cancer")
    assert model.task == DEFINITION.task
    assert model.primary_metric == "roc_auc"
    assert champion_get("breast_cancer") == version


def test_a_second_version_is_a_candidate_and_the_champion_stays(db, artifact_dir):
    first = train_and_register("breast_cancer")

    second = train_and_register("breast_cancer")

    assert second.number == 2
    assert second.status == ModelVersion.Status.CANDIDATE
    assert second.status_reason == "awaiting evaluation"
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.CHAMPION
    assert champion_get("breast_cancer") == first
    assert MLModel.objects.count() == 1
    assert ModelVersion.objects.count() == 2
    # The same training yields the same bytes, stored once.
    assert second.artifact_sha256 == first.artifact_sha256
    assert [p.name for p in Path(artifact_dir).iterdir()] == [f"{first.artifact_sha256}.artifact"]


def test_the_command_trains_when_no_champion_exists(db, artifact_dir, capsys):
    main(["--if-missing"])

    assert "breast_cancer: v1 first" in capsys.readouterr().out
    assert ModelVersion.objects.count() == 1
    assert champion_get("breast_cancer").number == 1


def test_the_command_does_not_retrain_when_a_champion_exists(db, artifact_dir, capsys):
    main(["--if-missing"])
    capsys.readouterr()

    main(["--if-missing"])

    assert "a champion is registered; not retraining" in capsys.readouterr().out
    assert ModelVersion.objects.count() == 1


def test_the_command_without_if_missing_trains_a_challenger_the_gate_judges(db, artifact_dir, capsys):
    main([])
    main(["--register"])

    out = capsys.readouterr().out
    # The same data and seed: the challenger scores as the champion does, so it is not worse.
    assert "breast_cancer: v2 promoted (roc_auc" in out
    assert list(ModelVersion.objects.order_by("number").values_list("number", "status")) == [
        (1, "archived"),
        (2, "champion"),
    ]


RAW_PENGUINS = Path(__file__).resolve().parents[2] / "docs" / "examples" / "penguins.csv"


def test_the_command_writes_a_skops_file_and_its_card_from_a_csv_without_a_database(tmp_path, capsys):
    # No `db` fixture: any query would fail the test (pytest-django blocks the database).
    import json

    import pandas as pd

    from predictor import model_files

    output = tmp_path / "penguins.skops"
    main(["--data", str(RAW_PENGUINS), "--target", "species", "--estimator", "logistic_regression",
          "--output", str(output)])  # fmt: skip

    assert "penguins: wrote" in capsys.readouterr().out
    pipeline = model_files.load(output.read_bytes(), sklearn_version=sklearn.__version__, extra=[])
    card = json.loads((tmp_path / "penguins.card.json").read_text())
    assert card["task"] == "multiclass_classification"
    assert card["estimator"] == "logistic_regression"
    assert set(card["metrics"]["held_out"]) == {"f1_macro", "accuracy"}
    assert card["metrics"]["held_out"]["accuracy"] > 0.9
    assert [f["name"] for f in card["features"]][:2] == ["island", "bill_length_mm"]
    assert card["artifact"]["file_name"] == "penguins.skops"
    assert card["lineage"]["dataset"]["sha256"] == hashlib.sha256(RAW_PENGUINS.read_bytes()).hexdigest()
    # The file predicts what the card's features describe.
    row = pd.read_csv(RAW_PENGUINS).iloc[0]
    names = [f["name"] for f in card["features"]]
    categories = {f["name"] for f in card["features"] if f["type"] == "category"}
    X = np.array([[row[n] if n in categories else float(row[n]) for n in names]], dtype=object)
    assert pipeline.predict(X)[0] == row["species"]


def test_the_command_writes_a_shipped_model_as_joblib_without_a_database(tmp_path):
    import joblib

    output = tmp_path / "iris.joblib"
    main(["--model", "iris", "--output", str(output)])

    pipeline = joblib.load(output)
    assert list(pipeline.classes_) == ["setosa", "versicolor", "virginica"]
    assert (tmp_path / "iris.card.json").exists()


def test_the_command_refuses_a_target_that_is_not_a_column(tmp_path):
    with pytest.raises(SystemExit, match="target"):
        main(["--data", str(RAW_PENGUINS), "--target", "nope", "--output", str(tmp_path / "x.skops")])
    assert not (tmp_path / "x.skops").exists()
