"""manage.py artifacts_convert and model_import: the command-line ways a model file changes
format or comes in."""

import io

import joblib
import numpy as np
import pytest
import sklearn
import skops.io as sio
from django.core.management import CommandError, call_command
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from predictor import model_files
from predictor.artifacts import artifact_bytes, artifact_load, artifact_sign, artifact_store_bytes
from predictor.models import ModelVersion
from predictor.registry import champion_get
from predictor.training import model_train_and_register, shipped_defined
from tests.shipped import table


@pytest.fixture
def artifact_dir(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    return settings.ARTIFACT_DIR


@pytest.fixture
def legacy_version(db, artifact_dir):
    """A version whose artifact is a joblib pickle, as every artifact was before skops."""
    shipped_defined("breast_cancer")
    version = model_train_and_register("breast_cancer")
    pipeline = artifact_load(
        version.artifact_sha256, sklearn_version=version.sklearn_version, signature=version.artifact_signature
    )
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    sha256 = artifact_store_bytes(buffer.getvalue())
    version.artifact_sha256 = sha256
    version.artifact_signature = artifact_sign(sha256, sklearn_version=sklearn.__version__)
    version.save()
    return version, pipeline


def test_artifacts_convert_rewrites_a_pickle_as_skops_that_predicts_the_same(legacy_version, capsys):
    version, pipeline = legacy_version
    old = version.artifact_sha256
    assert model_files.file_kind(artifact_bytes(old)[:8]) == model_files.PICKLE

    call_command("artifacts_convert")

    version.refresh_from_db()
    assert version.artifact_sha256 != old
    data = artifact_bytes(version.artifact_sha256)
    assert model_files.file_kind(data[:8]) == model_files.SKOPS
    converted = artifact_load(
        version.artifact_sha256, sklearn_version=version.sklearn_version, signature=version.artifact_signature
    )
    X = table("breast_cancer").drop(columns=["diagnosis"]).to_numpy(dtype=float)[:50]
    np.testing.assert_array_equal(converted.predict_proba(X), pipeline.predict_proba(X))
    assert "1 converted" in capsys.readouterr().out

    call_command("artifacts_convert")  # again: nothing left to convert
    assert "0 converted" in capsys.readouterr().out


def _notebook_model():
    frame = table("breast_cancer")
    X = frame.drop(columns=["diagnosis"]).iloc[:, :5]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, frame["diagnosis"])


def test_model_import_takes_a_skops_file_through_the_gate(db, artifact_dir, tmp_path, capsys):
    shipped_defined("breast_cancer")
    model_train_and_register("breast_cancer")
    path = tmp_path / "model.skops"
    sio.dump(_notebook_model(), path)

    call_command("model_import", "breast_cancer", str(path))

    out = capsys.readouterr().out
    assert "breast_cancer: v2 " in out
    imported = ModelVersion.objects.get(model__name="breast_cancer", number=2)
    assert imported.source == "imported"
    assert [f["name"] for f in imported.feature_schema] == list(_notebook_model().feature_names_in_)
    assert imported.status in ("champion", "rejected")
    assert ("promoted" in out) == (champion_get("breast_cancer").number == 2)


def test_model_import_refuses_a_pickle_unless_allowed(db, artifact_dir, tmp_path, capsys):
    shipped_defined("breast_cancer")
    model_train_and_register("breast_cancer")
    path = tmp_path / "model.joblib"
    joblib.dump(_notebook_model(), path)

    with pytest.raises(CommandError, match="skops"):
        call_command("model_import", "breast_cancer", str(path))
    assert ModelVersion.objects.filter(model__name="breast_cancer").count() == 1

    call_command("model_import", "breast_cancer", str(path), "--allow-pickle")
    imported = ModelVersion.objects.get(model__name="breast_cancer", number=2)
    # Stored as skops, whatever it came as.
    assert model_files.file_kind(artifact_bytes(imported.artifact_sha256)[:8]) == model_files.SKOPS


def test_model_import_reports_a_model_that_cannot_be_a_version(db, artifact_dir, tmp_path):
    shipped_defined("breast_cancer")
    model_train_and_register("breast_cancer")
    frame = table("breast_cancer")
    no_names = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        frame.drop(columns=["diagnosis"]).to_numpy(), frame["diagnosis"]
    )
    path = tmp_path / "model.skops"
    sio.dump(no_names, path)

    with pytest.raises(CommandError, match="feature_names_in_"):
        call_command("model_import", "breast_cancer", str(path))
    assert ModelVersion.objects.filter(model__name="breast_cancer").count() == 1
