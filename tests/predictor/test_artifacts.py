"""predictor.artifacts: a content-addressed store that loads only verified bytes."""

import hashlib
import re

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from predictor.artifacts import ArtifactError, artifact_exists, artifact_load, artifact_save

X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.5], [3.0, 1.0], [4.0, 3.5], [5.0, 2.0]])
y = np.array(["no", "no", "no", "yes", "yes", "yes"])


@pytest.fixture
def store(settings, tmp_path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    return settings.ARTIFACT_DIR


@pytest.fixture
def pipeline():
    return Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(X, y)


def test_a_saved_pipeline_loads_back_and_predicts_the_same(store, pipeline):
    sha256 = artifact_save(pipeline)

    loaded = artifact_load(sha256, sklearn_version=sklearn.__version__)

    assert loaded is not pipeline
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_it_names_the_file_by_the_sha256_of_its_bytes(store, pipeline):
    sha256 = artifact_save(pipeline)

    path = store / f"{sha256}.joblib"
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    assert len(sha256) == 64
    assert artifact_exists(sha256)
    assert [p.name for p in store.iterdir()] == [path.name]  # no temporary file left behind


def test_saving_the_same_object_twice_gives_the_same_sha(store, pipeline):
    first = artifact_save(pipeline)
    second = artifact_save(pipeline)

    assert first == second
    assert [p.name for p in store.iterdir()] == [f"{first}.joblib"]


def test_different_objects_get_different_shas(store, pipeline):
    other = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(C=0.01))]).fit(X, y)

    assert artifact_save(pipeline) != artifact_save(other)
    assert len(list(store.iterdir())) == 2


def test_it_refuses_a_file_changed_after_saving(store, pipeline):
    sha256 = artifact_save(pipeline)
    path = store / f"{sha256}.joblib"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match="SHA-256") as raised:
        artifact_load(sha256, sklearn_version=sklearn.__version__)

    assert sha256[:12] in str(raised.value)
    assert "refusing to load" in str(raised.value)


def test_it_refuses_a_file_replaced_by_another_artifact(store, pipeline):
    sha256 = artifact_save(pipeline)
    other = artifact_save({"not": "the pipeline"})
    (store / f"{sha256}.joblib").write_bytes((store / f"{other}.joblib").read_bytes())

    with pytest.raises(ArtifactError, match=f"does not match its SHA-256 \\(found {other[:12]}\\)"):
        artifact_load(sha256, sklearn_version=sklearn.__version__)


def test_it_refuses_an_artifact_from_another_sklearn_version(store, pipeline):
    sha256 = artifact_save(pipeline)

    with pytest.raises(ArtifactError, match=re.escape("scikit-learn 0.0.1")) as raised:
        artifact_load(sha256, sklearn_version="0.0.1")

    assert sklearn.__version__ in str(raised.value)
    assert "refusing to load" in str(raised.value)


def test_it_refuses_a_sha_that_is_not_in_the_store(store):
    missing = "0" * 64

    assert not artifact_exists(missing)
    with pytest.raises(ArtifactError, match="not in the artifact store"):
        artifact_load(missing, sklearn_version=sklearn.__version__)


def test_it_refuses_a_deleted_artifact(store, pipeline):
    sha256 = artifact_save(pipeline)
    (store / f"{sha256}.joblib").unlink()

    assert not artifact_exists(sha256)
    with pytest.raises(ArtifactError, match="not in the artifact store"):
        artifact_load(sha256, sklearn_version=sklearn.__version__)
