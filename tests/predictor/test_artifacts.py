"""predictor.artifacts: a content-addressed store in GridFS, cached per host, loading only verified bytes."""

import hashlib
import io
import re
import shutil
import zipfile

import joblib
import numpy as np
import pytest
import sklearn
import skops.io as sio
from gridfs import GridFSBucket
from mongoengine.connection import get_db
from pymongo import MongoClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from myproject.servers import free_port
from predictor import artifacts
from predictor.artifacts import (
    ArtifactError,
    artifact_check_stored,
    artifact_load,
    artifact_save,
    artifact_sign,
    artifact_store_bytes,
)
from predictor.history import HistoryUnavailable

X = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, 2.5], [3.0, 1.0], [4.0, 3.5], [5.0, 2.0]])
y = np.array(["no", "no", "no", "yes", "yes", "yes"])


@pytest.fixture
def bucket(mongo_server):
    """The GridFS bucket; what a test adds to it is removed afterwards (the session's artifacts stay)."""
    bucket = GridFSBucket(get_db(), bucket_name="artifacts")
    before = {stored._id for stored in bucket.find({})}
    yield bucket
    for stored in bucket.find({}):
        if stored._id not in before:
            bucket.delete(stored._id)


@pytest.fixture
def store(settings, tmp_path, bucket):
    """This host's cache directory, empty, for this test only."""
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    return settings.ARTIFACT_DIR


@pytest.fixture
def pipeline():
    return Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression())]).fit(X, y)


@pytest.fixture
def cut_mongodb(monkeypatch):
    """Call it to point the artifact store at a port nothing listens on."""
    client = MongoClient(f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=200)
    yield lambda: monkeypatch.setattr(artifacts, "get_db", lambda: client["predictions_test"])
    client.close()


def signed_load(sha256: str, *, sklearn_version: str):
    """Load as the registry would: with the signature it holds for this artifact."""
    return artifact_load(
        sha256,
        sklearn_version=sklearn_version,
        signature=artifact_sign(sha256, sklearn_version=sklearn_version),
    )


def _stored_files(bucket, sha256: str) -> list:
    return list(bucket.find({"filename": sha256}))


def _replace_stored(bucket, sha256: str, data: bytes) -> None:
    [stored] = _stored_files(bucket, sha256)
    bucket.delete(stored._id)
    bucket.upload_from_stream(sha256, data)


def _flip_a_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    return bytes(changed)


def _flip_a_stored_byte(bucket, sha256: str) -> None:
    """Change the GridFS copy in place, as a tampering with the chunks would."""
    [stored] = _stored_files(bucket, sha256)
    chunks = get_db()["artifacts.chunks"]
    chunk = chunks.find_one({"files_id": stored._id, "n": 0})
    chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": _flip_a_byte(chunk["data"])}})


def test_a_saved_pipeline_loads_back_and_predicts_the_same(store, pipeline):
    sha256 = artifact_save(pipeline)

    loaded = signed_load(sha256, sklearn_version=sklearn.__version__)

    assert loaded is not pipeline
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_it_stores_the_bytes_in_gridfs_and_caches_them_under_their_sha256(store, bucket, pipeline):
    sha256 = artifact_save(pipeline)

    path = store / f"{sha256}.artifact"
    assert len(sha256) == 64
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    assert [p.name for p in store.iterdir()] == [path.name]  # no temporary file left behind
    [stored] = _stored_files(bucket, sha256)
    assert stored.metadata == {"sha256": sha256, "size": path.stat().st_size}
    assert stored.read() == path.read_bytes()
    artifact_check_stored(sha256)  # raises unless the store holds bytes that hash to it


def test_an_artifact_is_a_skops_file_of_the_pipeline(store, pipeline):
    sha256 = artifact_save(pipeline)

    data = (store / f"{sha256}.artifact").read_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))
    assert "schema.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    # Nothing a plain scikit-learn pipeline is made of needs trusting beyond skops's defaults.
    assert sio.get_untrusted_types(data=data) == []
    np.testing.assert_array_equal(sio.loads(data).predict(X), pipeline.predict(X))


def test_a_legacy_joblib_artifact_still_loads_under_its_signature(store, pipeline, settings):
    settings.ARTIFACTS_ALLOW_PICKLE = True
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)  # as artifacts were stored before they were skops files
    sha256 = artifact_store_bytes(buffer.getvalue())
    assert sha256 == hashlib.sha256(buffer.getvalue()).hexdigest()
    assert artifacts.artifact_is_pickle(sha256)

    loaded = signed_load(sha256, sklearn_version=sklearn.__version__)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    shutil.rmtree(store)  # from GridFS too
    np.testing.assert_array_equal(
        signed_load(sha256, sklearn_version=sklearn.__version__).predict(X), pipeline.predict(X)
    )

    settings.ARTIFACTS_ALLOW_PICKLE = False
    with pytest.raises(ArtifactError, match="is a pickle and ARTIFACTS_ALLOW_PICKLE is off"):
        signed_load(sha256, sklearn_version=sklearn.__version__)


def test_saving_the_same_object_twice_gives_the_same_sha_and_one_stored_file(store, bucket, pipeline):
    first = artifact_save(pipeline)
    second = artifact_save(pipeline)

    assert first == second
    assert len(_stored_files(bucket, first)) == 1
    assert [p.name for p in store.iterdir()] == [f"{first}.artifact"]


def test_different_objects_get_different_shas(store, pipeline):
    other = Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(C=0.01))]).fit(X, y)

    assert artifact_save(pipeline) != artifact_save(other)
    assert len(list(store.iterdir())) == 2


def test_a_host_with_an_empty_cache_fetches_the_artifact_and_caches_it(store, pipeline):
    sha256 = artifact_save(pipeline)
    shutil.rmtree(store)  # another host: same GridFS, nothing on its disk

    loaded = signed_load(sha256, sklearn_version=sklearn.__version__)

    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    path = store / f"{sha256}.artifact"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    assert [p.name for p in store.iterdir()] == [path.name]


def test_a_valid_cached_copy_loads_without_mongodb(store, pipeline, cut_mongodb):
    sha256 = artifact_save(pipeline)
    cut_mongodb()

    loaded = signed_load(sha256, sklearn_version=sklearn.__version__)

    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))


@pytest.mark.parametrize("damage", ["a changed byte", "another artifact's bytes"])
def test_a_tampered_cached_copy_is_repaired_from_gridfs(store, pipeline, damage):
    sha256 = artifact_save(pipeline)
    path = store / f"{sha256}.artifact"
    if damage == "a changed byte":
        path.write_bytes(_flip_a_byte(path.read_bytes()))
    else:
        other = artifact_save({"not": "the pipeline"})
        path.write_bytes((store / f"{other}.artifact").read_bytes())

    loaded = signed_load(sha256, sklearn_version=sklearn.__version__)

    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


@pytest.mark.parametrize("cached", ["no cached copy", "a tampered cached copy"])
def test_it_refuses_a_gridfs_copy_changed_after_saving(store, bucket, pipeline, cached):
    sha256 = artifact_save(pipeline)
    path = store / f"{sha256}.artifact"
    if cached == "no cached copy":
        path.unlink()
    else:
        path.write_bytes(_flip_a_byte(path.read_bytes()))
    _flip_a_stored_byte(bucket, sha256)
    # What the cache holds now: nothing, or the damaged copy (as a file: a cache write
    # replaces it with a new one). Both are unverified bytes, so a hash of the cache
    # after the load could not tell whether the refused GridFS copy was written there.
    before = (path.stat().st_ino, path.read_bytes()) if path.exists() else None

    with pytest.raises(ArtifactError, match="does not match its SHA-256") as raised:
        signed_load(sha256, sklearn_version=sklearn.__version__)

    assert sha256[:12] in str(raised.value)
    assert "refusing to load" in str(raised.value)
    # Unverified bytes never reach the cache: nothing was written there (a damaged copy may
    # be left as it was, or taken away).
    after = (path.stat().st_ino, path.read_bytes()) if path.exists() else None
    assert after is None or after == before


def test_it_refuses_a_gridfs_copy_replaced_by_another_artifact(store, bucket, pipeline):
    sha256 = artifact_save(pipeline)
    other = artifact_save({"not": "the pipeline"})
    shutil.rmtree(store)
    _replace_stored(bucket, sha256, _stored_files(bucket, other)[0].read())

    with pytest.raises(ArtifactError, match=f"does not match its SHA-256 \\(found {other[:12]}\\)"):
        signed_load(sha256, sklearn_version=sklearn.__version__)

    assert not (store / f"{sha256}.artifact").exists()


def test_it_refuses_a_gridfs_copy_whose_chunks_are_gone(store, bucket, pipeline):
    sha256 = artifact_save(pipeline)
    (store / f"{sha256}.artifact").unlink()
    [stored] = _stored_files(bucket, sha256)
    get_db()["artifacts.chunks"].delete_many({"files_id": stored._id})

    with pytest.raises(ArtifactError, match="is damaged in the artifact store"):
        signed_load(sha256, sklearn_version=sklearn.__version__)


def test_it_refuses_an_artifact_from_another_sklearn_version_before_fetching_it(store, pipeline, monkeypatch):
    sha256 = artifact_save(pipeline)
    shutil.rmtree(store)
    monkeypatch.setattr(artifacts, "get_db", lambda: pytest.fail("asked GridFS for a refused artifact"))

    with pytest.raises(ArtifactError, match=re.escape("scikit-learn 0.0.1")) as raised:
        signed_load(sha256, sklearn_version="0.0.1")

    assert sklearn.__version__ in str(raised.value)
    assert "refusing to load" in str(raised.value)
    assert not store.exists()


def test_it_refuses_a_sha_that_is_not_in_the_store(store):
    missing = "0" * 64

    with pytest.raises(ArtifactError, match="not in the artifact store"):
        artifact_check_stored(missing)
    with pytest.raises(ArtifactError, match="not in the artifact store"):
        signed_load(missing, sklearn_version=sklearn.__version__)


def test_it_refuses_an_artifact_deleted_from_gridfs_and_this_host(store, bucket, pipeline):
    sha256 = artifact_save(pipeline)
    (store / f"{sha256}.artifact").unlink()
    [stored] = _stored_files(bucket, sha256)
    bucket.delete(stored._id)

    with pytest.raises(ArtifactError, match="not in the artifact store"):
        artifact_check_stored(sha256)
    with pytest.raises(ArtifactError, match="not in the artifact store"):
        signed_load(sha256, sklearn_version=sklearn.__version__)


def test_an_artifact_only_cached_on_this_host_does_not_exist_in_the_store(store, bucket, pipeline):
    sha256 = artifact_save(pipeline)
    [stored] = _stored_files(bucket, sha256)
    bucket.delete(stored._id)

    with pytest.raises(ArtifactError, match="not in the artifact store"):
        artifact_check_stored(sha256)


def test_an_unreachable_mongodb_raises_history_unavailable(store, pipeline, cut_mongodb):
    sha256 = artifact_save(pipeline)
    shutil.rmtree(store)
    cut_mongodb()

    with pytest.raises(HistoryUnavailable):
        artifact_save(pipeline)
    with pytest.raises(HistoryUnavailable):
        signed_load(sha256, sklearn_version=sklearn.__version__)
    with pytest.raises(HistoryUnavailable):
        artifact_check_stored(sha256)


def test_an_artifact_loaded_again_skips_the_static_audit_but_not_skops_own(store, monkeypatch, settings):
    from sklearn.tree import DecisionTreeClassifier

    from predictor import model_files

    monkeypatch.setattr(artifacts, "_vetted", {})
    audits = []
    real_check = model_files.check
    monkeypatch.setattr(model_files, "check", lambda *a, **k: audits.append(1) or real_check(*a, **k))
    # A tree: its Tree type is one skops trusts only when told.
    sha256 = artifact_save(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y))

    signed_load(sha256, sklearn_version=sklearn.__version__)
    signed_load(sha256, sklearn_version=sklearn.__version__)
    assert len(audits) == 1

    # Other trusted names are another decision: audited again.
    settings.MODEL_IMPORT_TRUSTED_TYPES = ["mypackage.Clipper"]
    signed_load(sha256, sklearn_version=sklearn.__version__)
    assert len(audits) == 2

    # The vetted names are only a hint to skops, which still refuses anything outside them.
    monkeypatch.setattr(artifacts, "_vetted", {key: [] for key in artifacts._vetted})
    with pytest.raises(ArtifactError, match="refused"):
        signed_load(sha256, sklearn_version=sklearn.__version__)
