"""Attacks on artifact loading by someone who can write to MongoDB (no auth on it by default).

A joblib file is a pickle: loading one runs whatever its author chose. The attacker stores
such a file in GridFS under its own SHA-256 and gets a job to name it; the worker must
refuse it before unpickling anything.
"""

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import joblib
import pytest
import sklearn
from gridfs import GridFSBucket
from mongoengine.connection import get_db

from predictor.artifacts import ArtifactError, artifact_load, artifact_sign
from predictor.inference import pipeline_get
from tests.clients import wait_for_job
from workers.tasks import requeue_stale_jobs_task


class Payload:
    """Unpickling it creates `marker`: the proof that attacker code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def planted(mongo_server, tmp_path, settings):
    """A malicious artifact in GridFS and in this host's cache, under its own SHA-256."""
    marker = tmp_path / "attacker-code-ran"
    buffer = io.BytesIO()
    joblib.dump(Payload(marker), buffer)
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    bucket = GridFSBucket(get_db(), bucket_name="artifacts")
    file_id = bucket.upload_from_stream(sha256, data, metadata={"sha256": sha256, "size": len(data)})
    cache = Path(settings.ARTIFACT_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{sha256}.joblib").write_bytes(data)
    yield sha256, marker
    bucket.delete(file_id)
    (cache / f"{sha256}.joblib").unlink(missing_ok=True)


def test_the_payload_really_runs_code_when_unpickled(planted):
    # The attack is real: what the platform refuses below would otherwise have run.
    sha256, marker = planted
    joblib.load(_stored_bytes(sha256))
    assert marker.exists()
    marker.unlink()


def _stored_bytes(sha256: str) -> io.BytesIO:
    bucket = GridFSBucket(get_db(), bucket_name="artifacts")
    with bucket.open_download_stream_by_name(sha256) as stream:
        return io.BytesIO(stream.read())


@pytest.mark.parametrize("signature", [None, "", "0" * 64])
def test_it_refuses_an_unsigned_artifact_before_unpickling_it(planted, signature):
    sha256, marker = planted

    with pytest.raises(ArtifactError, match="not signed by this platform's registry"):
        artifact_load(sha256, sklearn_version=sklearn.__version__, signature=signature)
    with pytest.raises(ArtifactError, match="not signed"):
        pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=signature)
    assert not marker.exists()


def test_a_real_versions_signature_does_not_vouch_for_another_artifact(planted, model_version):
    sha256, marker = planted

    with pytest.raises(ArtifactError, match="not signed"):
        pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=model_version.artifact_signature)
    assert not marker.exists()


def test_a_signature_made_with_another_key_is_refused(planted, settings):
    sha256, marker = planted
    settings.ARTIFACT_SIGNING_KEY = "the attacker's guess"
    forged = artifact_sign(sha256, sklearn_version=sklearn.__version__)
    settings.ARTIFACT_SIGNING_KEY = ""

    with pytest.raises(ArtifactError, match="not signed"):
        artifact_load(sha256, sklearn_version=sklearn.__version__, signature=forged)
    assert not marker.exists()


def test_every_registered_version_is_signed(model_version):
    assert model_version.artifact_signature == artifact_sign(
        model_version.artifact_sha256, sklearn_version=model_version.sklearn_version
    )


@pytest.mark.pipeline
@pytest.mark.parametrize("signature", ["none", "copied from the real version"])
def test_a_job_forged_in_mongodb_and_swept_to_a_worker_never_runs_the_payload(
    planted, signature, history, live_worker, api, user, model_version, valid_input, settings
):
    sha256, marker = planted
    # Inserted straight into MongoDB, 11 minutes old, so the sweeper re-publishes it.
    job = history.job_create(
        owner_id=user.pk,
        model="breast_cancer",
        version=model_version.number,
        artifact_sha256=sha256,
        sklearn_version=sklearn.__version__,
        artifact_signature=model_version.artifact_signature if signature != "none" else None,
        input=valid_input,
    )
    history.PredictionJob.objects(id=job.id).update_one(
        set__created_at=history.now() - timedelta(seconds=settings.STALE_JOB_SECONDS + 60)
    )

    assert requeue_stale_jobs_task() == 1
    finished = wait_for_job(api, job.id)

    assert finished["status"] == "failed"
    assert "not signed by this platform's registry" in finished["error"]
    assert finished["output"] is None
    assert not marker.exists(), "the worker unpickled the attacker's artifact"


def test_after_a_key_change_artifacts_resign_makes_the_registry_loadable_again(
    model_version, settings, transactional_db
):
    from django.core.management import call_command

    settings.ARTIFACT_SIGNING_KEY = "a new key"
    with pytest.raises(ArtifactError, match="not signed"):
        pipeline_get(
            model_version.artifact_sha256,
            sklearn_version=model_version.sklearn_version,
            signature=model_version.artifact_signature,
        )

    call_command("artifacts_resign", stdout=io.StringIO())

    model_version.refresh_from_db()
    assert pipeline_get(
        model_version.artifact_sha256,
        sklearn_version=model_version.sklearn_version,
        signature=model_version.artifact_signature,
    )
