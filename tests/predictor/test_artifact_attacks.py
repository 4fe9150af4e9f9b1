"""Attacks on artifact loading by someone who can write to MongoDB (no auth on it by default).

A joblib file is a pickle: loading one runs whatever its author chose. The attacker stores
such a file in GridFS under its own SHA-256 and gets a job to name it; the worker must
refuse it before unpickling anything.

Artifacts are skops files now: even an attacker who has the signing key (a valid signature)
gets no code run, since loading builds only the types the platform trusts, and a signed
legacy pickle is refused once ARTIFACTS_ALLOW_PICKLE is off.
"""

import functools
import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
import skops.io as sio
from gridfs import GridFSBucket
from mongoengine.connection import get_db
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

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


def skops_payload(marker: Path) -> Pipeline:
    """A pipeline that runs `touch marker` through os.system when it predicts: skops stores
    it as names (builtins.max, builtins.len, posix.system), so it runs only if loaded with
    those trusted."""
    command = functools.partial(max, f"touch {marker}", key=len)  # X -> the command (longer)
    answer = DummyClassifier().fit([[0.0]], ["benign"])
    return Pipeline(
        [
            ("command", FunctionTransformer(func=command)),
            ("run", FunctionTransformer(func=os.system)),
            ("answer", answer),
        ]
    )


def _plant(settings, data: bytes):
    """`data` in GridFS and in this host's cache, under its own SHA-256; a function that
    takes them away again."""
    sha256 = hashlib.sha256(data).hexdigest()
    bucket = GridFSBucket(get_db(), bucket_name="artifacts")
    file_id = bucket.upload_from_stream(sha256, data, metadata={"sha256": sha256, "size": len(data)})
    cache = Path(settings.ARTIFACT_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{sha256}.artifact").write_bytes(data)

    def remove():
        bucket.delete(file_id)
        (cache / f"{sha256}.artifact").unlink(missing_ok=True)

    return sha256, remove


@pytest.fixture
def planted(mongo_server, tmp_path, settings):
    """A malicious joblib artifact in GridFS and in this host's cache, under its own SHA-256."""
    marker = tmp_path / "attacker-code-ran"
    buffer = io.BytesIO()
    joblib.dump(Payload(marker), buffer)
    sha256, remove = _plant(settings, buffer.getvalue())
    yield sha256, marker
    remove()


@pytest.fixture
def planted_skops(mongo_server, tmp_path, settings):
    """A malicious skops artifact (skops_payload) in GridFS and in this host's cache."""
    marker = tmp_path / "attacker-command-ran"
    sha256, remove = _plant(settings, sio.dumps(skops_payload(marker)))
    yield sha256, marker
    remove()


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


def test_the_skops_payload_really_runs_a_command_when_loaded_trusting_it(planted_skops):
    # The attack is real: trusting the names the file holds, predicting runs the command.
    sha256, marker = planted_skops
    data = _stored_bytes(sha256).getvalue()
    untrusted = sio.get_untrusted_types(data=data)
    assert {"posix.system", "builtins.max"} <= set(untrusted)
    model = sio.loads(data, trusted=untrusted)
    with pytest.raises(TypeError):  # after the command ran: os.system's answer is no matrix
        model.predict(np.zeros((1, 30)))
    assert marker.exists()
    marker.unlink()


def test_a_signed_skops_artifact_naming_os_system_is_refused_and_runs_nothing(planted_skops):
    # As if the signing key had leaked: the signature is valid.
    sha256, marker = planted_skops
    signature = artifact_sign(sha256, sklearn_version=sklearn.__version__)

    with pytest.raises(ArtifactError, match=rf"artifact {sha256[:12]} refused: .*'posix\.system'"):
        artifact_load(sha256, sklearn_version=sklearn.__version__, signature=signature)
    with pytest.raises(ArtifactError, match=r"posix\.system"):
        pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=signature)
    assert not marker.exists()


def test_a_signed_legacy_pickle_is_refused_once_pickles_are_turned_off(planted, settings):
    sha256, marker = planted
    signature = artifact_sign(sha256, sklearn_version=sklearn.__version__)
    settings.ARTIFACTS_ALLOW_PICKLE = False

    with pytest.raises(ArtifactError, match="is a pickle and ARTIFACTS_ALLOW_PICKLE is off"):
        artifact_load(sha256, sklearn_version=sklearn.__version__, signature=signature)
    with pytest.raises(ArtifactError, match="ARTIFACTS_ALLOW_PICKLE is off"):
        pipeline_get(sha256, sklearn_version=sklearn.__version__, signature=signature)
    assert not marker.exists()

    # What the setting guards: while it is on, a signed pickle is unpickled (legacy artifacts
    # load under their signature alone), and this one runs its code.
    settings.ARTIFACTS_ALLOW_PICKLE = True
    artifact_load(sha256, sklearn_version=sklearn.__version__, signature=signature).close()
    assert marker.exists()
    marker.unlink()


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


@pytest.mark.pipeline
def test_a_signed_skops_job_swept_to_a_worker_never_runs_the_command(
    planted_skops, history, live_worker, api, user, model_version, valid_input, settings
):
    sha256, marker = planted_skops
    # A leaked key: the forged job carries a valid signature of the planted artifact.
    job = history.job_create(
        owner_id=user.pk,
        model="breast_cancer",
        version=model_version.number,
        artifact_sha256=sha256,
        sklearn_version=sklearn.__version__,
        artifact_signature=artifact_sign(sha256, sklearn_version=sklearn.__version__),
        input=valid_input,
    )
    history.PredictionJob.objects(id=job.id).update_one(
        set__created_at=history.now() - timedelta(seconds=settings.STALE_JOB_SECONDS + 60)
    )

    assert requeue_stale_jobs_task() == 1
    finished = wait_for_job(api, job.id)

    assert finished["status"] == "failed"
    assert f"artifact {sha256[:12]} refused" in finished["error"]
    assert "posix.system" in finished["error"]
    assert finished["output"] is None
    assert not marker.exists(), "the worker ran the attacker's command"


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
